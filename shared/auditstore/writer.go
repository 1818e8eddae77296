// Package auditstore writes audit events to PostgreSQL: exactly once, in
// group-committed batches chained into the integrity ledger.
package auditstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/auditevent"
	"function/shared/integrity"
)

// chainLock is the advisory lock that serialises ledger appends across every
// collector replica, so the chain stays strictly ordered.
const chainLock = 0x617564697466 // "auditf"

// Result tells how a write went.
type Result struct {
	Stored     int // new events committed
	Duplicates int // events already stored (same source and id)
}

// Options tune a Writer.
type Options struct {
	// MaxBatch bounds the events gathered into one transaction.
	MaxBatch int
	// PartitionsAhead is how many future day partitions are kept created.
	PartitionsAhead int
	Logger          *slog.Logger
	// OnCommit, when set, is told of every committed transaction: the
	// events it stored and how long it took from begin to commit.
	OnCommit func(stored int, took time.Duration)
}

// Writer commits events. Concurrent Write calls are gathered into one
// transaction (group commit); each call returns only once its events are
// durably committed, or with an error and nothing of them stored.
type Writer struct {
	pool  *pgxpool.Pool
	parts *partitions
	opts  Options
	reqs  chan *request
	done  chan struct{}
	now   func() time.Time
}

type request struct {
	records []auditevent.Record
	result  chan outcome
}

type outcome struct {
	res Result
	err error
}

// NewWriter starts a writer on pool; Close stops it.
func NewWriter(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Writer, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 5000
	}
	if opts.PartitionsAhead <= 0 {
		opts.PartitionsAhead = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Writer{
		pool:  pool,
		parts: newPartitions(pool),
		opts:  opts,
		reqs:  make(chan *request, 1024),
		done:  make(chan struct{}),
		now:   time.Now,
	}
	if err := w.parts.ahead(ctx, w.now(), opts.PartitionsAhead); err != nil {
		return nil, fmt.Errorf("create partitions: %w", err)
	}
	go w.run()
	return w, nil
}

// MaintainPartitions keeps future partitions created until ctx ends.
func (w *Writer) MaintainPartitions(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.parts.ahead(ctx, w.now(), w.opts.PartitionsAhead); err != nil && ctx.Err() == nil {
				w.opts.Logger.Error("create partitions ahead", "err", err)
			}
		}
	}
}

// Close stops the writer after the queued writes are done.
func (w *Writer) Close() {
	close(w.reqs)
	<-w.done
}

// Write stores events exactly once. The events must be validated.
func (w *Writer) Write(ctx context.Context, events []auditevent.Event) (Result, error) {
	if len(events) == 0 {
		return Result{}, nil
	}
	recs := make([]auditevent.Record, len(events))
	days := make([]time.Time, 0, 1)
	for i, ev := range events {
		recs[i] = auditevent.NewRecord(ev)
		if len(days) == 0 || !days[len(days)-1].Equal(recs[i].EventDate) {
			days = append(days, recs[i].EventDate)
		}
	}
	res, err := w.submit(ctx, recs, days)
	if isMissingPartition(err) {
		// A cached day's partition was dropped by the archive since: a late
		// event for an archived day. Re-create it and try once more.
		w.parts.forget(days)
		res, err = w.submit(ctx, recs, days)
	}
	return res, err
}

func (w *Writer) submit(ctx context.Context, recs []auditevent.Record, days []time.Time) (Result, error) {
	if err := w.parts.ensure(ctx, days); err != nil {
		return Result{}, fmt.Errorf("ensure partitions: %w", err)
	}
	req := &request{records: recs, result: make(chan outcome, 1)}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	// Once queued the request is committed or failed as a whole; waiting
	// for it even if ctx ends keeps the caller's answer truthful.
	o := <-req.result
	return o.res, o.err
}

// isMissingPartition is PostgreSQL's "no partition of relation ... found
// for row".
func isMissingPartition(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23514" && strings.Contains(pg.Message, "no partition")
}

// run is the single committer: it takes whatever requests queued up while the
// previous transaction committed and commits them together.
func (w *Writer) run() {
	defer close(w.done)
	for first := range w.reqs {
		group := []*request{first}
		n := len(first.records)
	gather:
		for n < w.opts.MaxBatch {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break gather
				}
				group = append(group, r)
				n += len(r.records)
			default:
				break gather
			}
		}
		w.commitGroup(group)
	}
}

// commitGroup commits a group in one transaction. If that fails, each request
// is retried alone so one bad request cannot fail the others.
func (w *Writer) commitGroup(group []*request) {
	ctx := context.Background()
	all := make([]auditevent.Record, 0, len(group))
	for _, r := range group {
		all = append(all, r.records...)
	}
	results, err := w.commit(ctx, all, len(group), func(i int) int { return len(group[i].records) })
	if err == nil {
		for i, r := range group {
			r.result <- outcome{res: results[i]}
		}
		return
	}
	if len(group) == 1 {
		group[0].result <- outcome{err: err}
		return
	}
	w.opts.Logger.Warn("group commit failed, committing requests one by one", "requests", len(group), "err", err)
	for _, r := range group {
		res, err := w.commit(ctx, r.records, 1, func(int) int { return len(r.records) })
		if err != nil {
			r.result <- outcome{err: err}
			continue
		}
		r.result <- outcome{res: res[0]}
	}
}

type eventKey struct {
	id     uuid.UUID
	source string
}

// commit appends records as one ledger batch. The records are split into
// `parts` consecutive requests of sizes size(i), for which it reports results.
func (w *Writer) commit(ctx context.Context, records []auditevent.Record, parts int, size func(int) int) ([]Result, error) {
	start := time.Now()
	// The transaction is begun and committed inside pipelined batches, not
	// with pgx.Tx (whose Begin and Commit are a round trip each): a commit
	// holds the chain, so its round trips bound ingest (docs/performance.md).
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			// Back to idle, or the pool destroys the connection on release.
			_, _ = conn.Exec(ctx, `ROLLBACK`)
		}
		conn.Release()
	}()

	keyIDs, keySources, keyDates := make([][16]byte, len(records)), make([]string, len(records)), make([]time.Time, len(records))
	for i, r := range records {
		keyIDs[i], keySources[i], keyDates[i] = r.ID, r.Source, r.EventDate
	}
	// One round trip: begin, take the chain, read its head, and claim the
	// keys. Only keys inserted now come back, each once: one stored before,
	// or repeated within the group after its first copy, is a duplicate.
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SELECT pg_advisory_xact_lock($1)`, chainLock)
	batch.Queue(`SELECT seq, batch_hash FROM audit.ledger ORDER BY seq DESC LIMIT 1`)
	batch.Queue(`INSERT INTO audit.event_keys (event_id, source, event_date)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[])
		ON CONFLICT DO NOTHING RETURNING event_id, source`, keyIDs, keySources, keyDates)
	br := conn.SendBatch(ctx, batch)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("chain lock: %w", err)
	}
	prev := integrity.Batch{Hash: integrity.Genesis}
	if err := br.QueryRow().Scan(&prev.Seq, &prev.Hash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		br.Close()
		return nil, fmt.Errorf("ledger head: %w", err)
	}
	inserted := make(map[eventKey]bool, len(records))
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("store event keys: %w", err)
	}
	for rows.Next() {
		var k eventKey
		if err := rows.Scan((*[16]byte)(&k.id), &k.source); err != nil {
			rows.Close()
			br.Close()
			return nil, err
		}
		inserted[k] = true
	}
	rows.Close()
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("store event keys: %w", err)
	}

	// Keep the first copy of each event whose key was new; count the rest
	// as duplicates for the request they came in.
	results := make([]Result, parts)
	fresh := make([]*auditevent.Record, 0, len(records))
	for p, i := 0, 0; p < parts; p++ {
		for end := i + size(p); i < end; i++ {
			k := eventKey{records[i].ID, records[i].Source}
			if !inserted[k] {
				results[p].Duplicates++
				continue
			}
			delete(inserted, k) // later copies are duplicates
			results[p].Stored++
			fresh = append(fresh, &records[i])
		}
	}
	if len(fresh) == 0 {
		if _, err := conn.Exec(ctx, `COMMIT`); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		committed = true
		w.committed(0, start)
		return results, nil
	}

	b := integrity.Batch{Seq: prev.Seq + 1, PrevHash: prev.Hash, EventCount: len(fresh), CommittedAt: auditevent.Truncate(w.now())}
	hashes := make([][]byte, len(fresh))
	salts := make([]byte, len(fresh)*integrity.SaltSize)
	rand.Read(salts) // never fails (crypto/rand)
	for i, r := range fresh {
		r.Salt = salts[i*integrity.SaltSize : (i+1)*integrity.SaltSize : (i+1)*integrity.SaltSize]
		r.ReceivedAt = b.CommittedAt
		r.LedgerSeq = b.Seq
		r.LedgerPos = int32(i)
		r.Hash = integrity.EventHash(r)
		hashes[i] = r.Hash
	}
	b.EventsDigest = integrity.EventsDigest(hashes)
	integrity.Seal(&b)

	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit", "audit_events"}, Columns, pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
		return Values(fresh[i]), nil
	})); err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	end := &pgx.Batch{}
	end.Queue(`INSERT INTO audit.ledger (seq, prev_hash, event_count, events_digest, committed_at, batch_hash)
		VALUES ($1, $2, $3, $4, $5, $6)`, b.Seq, b.PrevHash, b.EventCount, b.EventsDigest, b.CommittedAt, b.Hash)
	end.Queue(`COMMIT`)
	br = conn.SendBatch(ctx, end)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("append ledger: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("commit: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	committed = true
	w.committed(len(fresh), start)
	return results, nil
}

func (w *Writer) committed(stored int, start time.Time) {
	if w.opts.OnCommit != nil {
		w.opts.OnCommit(stored, time.Since(start))
	}
}
