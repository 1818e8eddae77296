package verify

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/integrity"
	"function/shared/parallel"
)

// Scope limits verification to the ledger batches holding a day's events
// (or committed that day) or a correlation id's events; the zero Scope is
// the whole hot store.
type Scope struct {
	Date          time.Time
	CorrelationID string
}

// Cold gives verification the events whose hot rows were archived and
// dropped: the ledger still lists them.
type Cold interface {
	// Seqs are the ledger batches holding archived events in scope.
	Seqs(ctx context.Context, s Scope) ([]int64, error)
	// Parts are the archived parts that may hold batches from seq on.
	Parts(ctx context.Context, from int64) ([]ColdPart, error)
}

// checked is what verification keeps of an event once it has read it:
// where the event says it sits in the chain, its recomputed hash and whether
// that matches the stored one: about 64 bytes however large the payload.
type checked struct {
	seq    int64
	pos    int32
	hashOK bool
	id     uuid.UUID
	hash   [integrity.HashSize]byte
	corr   string // the correlation id, for the trail index
}

func check(r *auditevent.Record) checked {
	e := checked{seq: r.LedgerSeq, pos: r.LedgerPos, id: r.ID, corr: r.CorrelationID}
	e.hash = [integrity.HashSize]byte(integrity.EventHash(r))
	e.hashOK = bytes.Equal(e.hash[:], r.Hash)
	return e
}

// checkChunk is how many records checkAll holds at a time.
const checkChunk = 2048

// checkAll appends to out the check of every record each streams, a chunk
// at a time spread over the CPUs: a salted hash costs tens of µs, and a
// scope's single span would otherwise hash on one. Memory holds one chunk
// of records, and 64 bytes for each record checked.
func checkAll(out []checked, each func(fn func(*auditevent.Record)) error) ([]checked, error) {
	chunk := make([]auditevent.Record, 0, checkChunk)
	flush := func() {
		n := len(out)
		out = append(out, make([]checked, len(chunk))...)
		_ = parallel.Each(len(chunk), func(i int) error {
			out[n+i] = check(&chunk[i])
			return nil
		})
		chunk = chunk[:0]
	}
	err := each(func(r *auditevent.Record) {
		if chunk = append(chunk, *r); len(chunk) == checkChunk {
			flush()
		}
	})
	flush()
	return out, err
}

func byChainPosition(a, b checked) int {
	return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.pos, b.pos))
}

// maxMissing bounds the missing positions a finding lists.
const maxMissing = 10

// chunkEvents is about how many events one verification worker reads per
// query: enough to keep PostgreSQL streaming, few enough to spread the
// chain over the workers.
var chunkEvents = 20_000

// chained is what the chain check found and keeps for the tree's checks.
type chained struct {
	findings []Finding
	parts    []ColdPart // the archived parts read
	checked  int        // events checked
	leaves   []leaf     // a day's scope: its intact batches' leaves, to prove
	trail    []trailEvent
}

// chain recomputes, for the batches in scope, every event hash, batch
// digest and chain link (to the predecessor of each batch), and reports each
// mismatch. Events of a batch that were archived come from cold (nil: none
// were). Over the whole log, each span's intact leaves go to rebuild, in
// tree order; in a correlation scope, the trail's events are kept (trailed:
// the trail index will check them).
//
// The chain is cut into spans of about chunkEvents events, verified in
// parallel (in chain order), each on its own connection. Only the spans in
// flight are in memory, with the archived parts holding their events, and
// of every event only what checked keeps.
func chain(ctx context.Context, pool *pgxpool.Pool, s Scope, archived Cold, rebuild *trailRebuild, trailed bool) (chained, error) {
	var out chained
	seqs, err := scopeSeqs(ctx, pool, s, archived, trailed)
	if err != nil {
		return out, err
	}
	head, err := treeHead(ctx, pool)
	if err != nil {
		return out, err
	}
	spans, err := chainSpans(ctx, pool, seqs)
	if err != nil {
		return out, err
	}
	cold := make([][]*coldPart, len(spans))
	if archived != nil && (seqs == nil || len(seqs) > 0) {
		from := int64(math.MinInt64)
		if seqs != nil {
			from = seqs[0]
		}
		parts, err := archived.Parts(ctx, from)
		if err != nil {
			return out, err
		}
		cold, out.parts = attachParts(parts, spans, seqs)
	}
	mode := leavesCompared
	switch {
	case s.CorrelationID != "":
		mode = leavesPlaced
	case seqs != nil:
		mode = leavesKept
	}
	checkers := make([]*checker, len(spans))
	// The index is rebuilt beside the spans' checks, in chain order.
	rebuilt := make(chan *leafCheck, runtime.GOMAXPROCS(0))
	rebuilding := make(chan struct{})
	go func() {
		defer close(rebuilding)
		for l := range rebuilt {
			if rebuild != nil {
				rebuild.span(l.updates, l.stop)
			}
			l.updates = nil
		}
	}()
	inOrder := newSpanOrder(len(spans), func(i int) { rebuilt <- checkers[i].tree })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, sp := range spans {
		var spanSeqs []int64
		if seqs != nil {
			lo := sort.Search(len(seqs), func(j int) bool { return seqs[j] > sp.after })
			hi := sort.Search(len(seqs), func(j int) bool { return seqs[j] > sp.through })
			spanSeqs = seqs[lo:hi:hi]
		}
		checkers[i] = newChecker(sp, spanSeqs, &leafCheck{head: head, mode: mode, indexing: rebuild != nil, stop: math.MaxUint64})
		checkers[i].trailID = s.CorrelationID
		g.Go(func() error {
			var archivedEvents []checked
			for _, p := range cold[i] {
				share, err := p.take(gctx, sp)
				if err != nil {
					return err
				}
				archivedEvents = append(archivedEvents, share...)
			}
			if err := checkers[i].run(gctx, pool, archivedEvents); err != nil {
				return err
			}
			inOrder.done(i)
			return nil
		})
	}
	err = g.Wait()
	close(rebuilt)
	<-rebuilding
	if err != nil {
		return out, err
	}
	for _, c := range checkers {
		out.findings = append(out.findings, c.findings...)
		out.checked += c.checked
		out.leaves = append(out.leaves, c.tree.leaves...)
		out.trail = append(out.trail, c.trail...)
	}
	return out, nil
}

// spanOrder calls apply for each span in chain order, as soon as it and
// every span before it are done.
type spanOrder struct {
	mu       sync.Mutex
	finished []bool
	next     int
	apply    func(int)
}

func newSpanOrder(n int, apply func(int)) *spanOrder {
	return &spanOrder{finished: make([]bool, n), apply: apply}
}

func (o *spanOrder) done(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[i] = true
	for ; o.next < len(o.finished) && o.finished[o.next]; o.next++ {
		o.apply(o.next)
	}
}

// scopeSeqs lists the ledger batches a scope covers, sorted; nil means all.
// With trailed, a correlation scope's trail is shown complete by the trail
// index.
func scopeSeqs(ctx context.Context, pool *pgxpool.Pool, s Scope, archived Cold, trailed bool) ([]int64, error) {
	seqs, err := scopeBatches(ctx, pool, s)
	if err != nil || seqs == nil {
		return seqs, err
	}
	// Batches that lost every event (a dropped partition, a deleted batch)
	// are checked too: a scope found by the events it still has cannot find
	// them. A trail the index shows complete needs no such search, which
	// reads the whole hot ledger: a batch of it that lost everything is
	// trail_incomplete, and those of others are damage elsewhere.
	if s.CorrelationID == "" || !trailed {
		orphans, err := orphanBatches(ctx, pool)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, orphans...)
	}
	if archived != nil {
		more, err := archived.Seqs(ctx, s)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, more...)
	}
	slices.Sort(seqs)
	return slices.Compact(seqs), nil
}

// span is the ledger range (after, through] one checker verifies.
type span struct{ after, through int64 }

// chainSpans cuts the ledger (or the batches in seqs) into consecutive spans
// of about chunkEvents events. The first span starts and the last ends
// unbounded, so an event whose ledger_seq no batch has still falls in one.
func chainSpans(ctx context.Context, pool *pgxpool.Pool, seqs []int64) ([]span, error) {
	sql := `SELECT max(seq) FROM (
		SELECT seq, (sum(event_count) OVER (ORDER BY seq) - 1) / $1 AS part FROM audit.ledger %s) t
		GROUP BY part ORDER BY 1`
	args := []any{chunkEvents}
	if seqs != nil {
		sql, args = fmt.Sprintf(sql, "WHERE seq = ANY($2)"), append(args, seqs)
	} else {
		sql = fmt.Sprintf(sql, "")
	}
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	ends, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	spans := make([]span, 0, len(ends)+1)
	after := int64(math.MinInt64)
	for _, end := range ends {
		spans = append(spans, span{after, end})
		after = end
	}
	if n := len(spans); n > 0 {
		spans[n-1].through = math.MaxInt64
	} else {
		spans = append(spans, span{math.MinInt64, math.MaxInt64})
	}
	return spans, nil
}

// checker verifies one span: it walks the span's ledger batches in seq
// order while the span's events arrive in (ledger_seq, ledger_pos) order.
type checker struct {
	span
	seqs []int64 // the span's batches in scope, sorted; nil: all

	batches  []integrity.Batch // the span's batches, led by its predecessor
	next     int               // index of the next batch to open
	prev     integrity.Batch   // last batch opened
	cur      *integrity.Batch  // in-scope batch whose events are arriving
	hashes   [][]byte          // recomputed hashes of cur's events so far
	ids      []uuid.UUID       // and their ids
	corrs    []string          // and correlation ids
	nextPos  int32             // the ledger_pos cur's next event should have
	missing  []int32           // cur's positions no event has (the first maxMissing)
	tree     *leafCheck
	trailID  string       // correlation scope: whose events to keep
	trail    []trailEvent // and those found
	findings findings
	checked  int
}

func newChecker(sp span, seqs []int64, tree *leafCheck) *checker {
	return &checker{span: sp, seqs: seqs, prev: integrity.Batch{Hash: integrity.Genesis}, tree: tree}
}

func (c *checker) inScope(seq int64) bool {
	if c.seqs == nil {
		return seq > c.after
	}
	_, found := slices.BinarySearch(c.seqs, seq)
	return found
}

// run loads the span's batches (and each one's predecessor), then streams
// its hot events merged with its archived ones (cold, sorted).
func (c *checker) run(ctx context.Context, pool *pgxpool.Pool, cold []checked) error {
	ledgerSQL := `SELECT seq, prev_hash, event_count, events_digest, committed_at, batch_hash
		FROM audit.ledger WHERE seq >= $1 AND seq <= $2`
	recordsTail := "WHERE ledger_seq > $1 AND ledger_seq <= $2"
	ledgerArgs := []any{c.after, c.through}
	recordsArgs := ledgerArgs
	if c.seqs != nil {
		withPrev := slices.Clone(c.seqs)
		for _, q := range c.seqs {
			withPrev = append(withPrev, q-1)
		}
		ledgerSQL += ` AND seq = ANY($3)`
		recordsTail += " AND ledger_seq = ANY($3)"
		ledgerArgs, recordsArgs = append(ledgerArgs, withPrev), append(recordsArgs[:2:2], c.seqs)
	}
	rows, err := pool.Query(ctx, ledgerSQL+` ORDER BY seq`, ledgerArgs...)
	if err != nil {
		return err
	}
	c.batches, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (integrity.Batch, error) {
		var b integrity.Batch
		err := r.Scan(&b.Seq, &b.PrevHash, &b.EventCount, &b.EventsDigest, &b.CommittedAt, &b.Hash)
		return b, err
	})
	if err != nil {
		return err
	}
	if err := c.tree.load(ctx, pool, c.batches); err != nil {
		return err
	}
	// Sorted here, not by PostgreSQL: unordered, the planner reads each
	// partition's span in one pass instead of sorting it on disk.
	events, err := checkAll(make([]checked, 0, chunkEvents), func(fn func(*auditevent.Record)) error {
		return auditstore.EachRecord(ctx, pool, recordsTail, recordsArgs, fn)
	})
	if err != nil {
		return err
	}
	events = append(events, cold...)
	slices.SortFunc(events, byChainPosition)
	for i := range events {
		c.event(&events[i])
	}
	c.close()
	c.openThrough(math.MaxInt64)
	return nil
}

// event checks the next event of the span.
func (c *checker) event(e *checked) {
	c.checked++
	if c.cur == nil || c.cur.Seq != e.seq {
		c.close()
		c.openThrough(e.seq)
	}
	if c.cur == nil || c.cur.Seq != e.seq {
		// Events whose batch is missing from the ledger were inserted around it.
		c.findings.event(EventOutside, e.seq, e.id.String(), "event belongs to no ledger batch")
		return
	}
	switch {
	case e.pos > c.nextPos: // the events between are gone: the batch's count says so
		for p := c.nextPos; p < e.pos && len(c.missing) < maxMissing; p++ {
			c.missing = append(c.missing, p)
		}
	case e.pos < c.nextPos:
		c.findings.event(EventMisplaced, e.seq, e.id.String(), "at ledger_pos %d, after an event at %d", e.pos, c.nextPos-1)
	}
	c.nextPos = max(c.nextPos, e.pos+1)
	if !e.hashOK {
		c.findings.event(EventAltered, e.seq, e.id.String(), "event content does not match its event_hash")
	}
	if c.trailID != "" && e.corr == c.trailID {
		c.trail = append(c.trail, trailEvent{seq: e.seq, pos: e.pos, id: e.id, hash: e.hash})
	}
	c.hashes, c.ids, c.corrs = append(c.hashes, e.hash[:]), append(c.ids, e.id), append(c.corrs, e.corr)
}

// openThrough opens, in order, every batch up to seq: those before it have
// no (further) events and are closed at once; the one at seq stays open.
func (c *checker) openThrough(seq int64) {
	for c.next < len(c.batches) && c.batches[c.next].Seq <= seq {
		c.open(&c.batches[c.next])
		c.next++
		if c.cur != nil && c.cur.Seq < seq {
			c.close()
		}
	}
}

// open checks b's link to the previous batch and its own hash; b becomes the
// batch receiving events when it is in scope.
func (c *checker) open(b *integrity.Batch) {
	if !c.inScope(b.Seq) {
		c.prev = *b // only loaded as a predecessor
		return
	}
	switch {
	case b.Seq == c.prev.Seq+1:
		if !bytes.Equal(b.PrevHash, c.prev.Hash) {
			c.findings.batch(BatchLink, b.Seq, "prev_hash does not match the hash of batch %d", c.prev.Seq)
		}
	case c.seqs == nil || b.Seq > 1:
		c.findings.batch(LedgerGap, b.Seq, "ledger gap: batch %d is missing", b.Seq-1)
	}
	sealed := *b
	integrity.Seal(&sealed)
	if !bytes.Equal(sealed.Hash, b.Hash) {
		c.findings.batch(BatchAltered, b.Seq, "batch_hash does not match its fields")
	}
	c.cur, c.hashes, c.ids, c.corrs, c.nextPos, c.missing = b, c.hashes[:0], c.ids[:0], c.corrs[:0], 0, c.missing[:0]
}

// close checks the open batch's event count and digest.
func (c *checker) close() {
	if c.cur == nil {
		return
	}
	b := c.cur
	if len(c.hashes) != b.EventCount {
		gone := ""
		if len(c.missing) > 0 {
			gone = fmt.Sprintf("; no event at ledger_pos %v", c.missing)
		}
		c.findings.batch(BatchCount, b.Seq, "batch holds %d events, ledger says %d%s", len(c.hashes), b.EventCount, gone)
		c.tree.damaged(b)
	} else if !bytes.Equal(integrity.EventsDigest(c.hashes), b.EventsDigest) {
		c.findings.batch(BatchDigest, b.Seq, "events do not match the batch's events_digest")
		c.tree.damaged(b)
	} else {
		// An intact batch: its events must be the tree's leaves too.
		c.tree.batch(b, &c.prev, c.ids, c.hashes, c.corrs, &c.findings)
	}
	c.prev, c.cur = *b, nil
}

// orphanBatches are the ledger batches without a single hot event that no
// dropped (archived) part covers. Every batch up to the end of the covered
// run from the chain's start is covered, so only the batches after it are
// looked at, and only the events of those: the ledger and events read are
// those since the last archive cut, through their indexes, however long the
// ledger and large the hot table.
func orphanBatches(ctx context.Context, pool *pgxpool.Pool) ([]int64, error) {
	cut, err := coveredPrefix(ctx, pool)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT l.seq FROM audit.ledger l
		WHERE l.seq > $1
		  AND NOT EXISTS (SELECT 1 FROM audit.archive_days d
		                  WHERE d.state = 'dropped' AND l.seq > d.seq_after AND l.seq <= d.seq_through)
		  AND NOT EXISTS (SELECT 1 FROM audit.audit_events e WHERE e.ledger_seq = l.seq AND e.ledger_seq > $1)`, cut)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// coveredPrefix is the end of the run of ledger batches, from the first,
// that dropped parts cover without a gap.
func coveredPrefix(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	rows, err := pool.Query(ctx, `SELECT DISTINCT seq_after, seq_through FROM audit.archive_days
		WHERE state = 'dropped' ORDER BY seq_after`)
	if err != nil {
		return 0, err
	}
	var cut int64
	var after, through int64
	_, err = pgx.ForEachRow(rows, []any{&after, &through}, func() error {
		if after <= cut {
			cut = max(cut, through)
		}
		return nil
	})
	return cut, err
}

// scopeBatches lists the ledger batches a scope covers; nil means all.
func scopeBatches(ctx context.Context, pool *pgxpool.Pool, s Scope) ([]int64, error) {
	var sql string
	var arg any
	switch {
	case !s.Date.IsZero():
		sql = `SELECT ledger_seq FROM audit.audit_events WHERE event_date = $1
			UNION SELECT seq FROM audit.ledger WHERE committed_at >= $1 AND committed_at < $1::date + 1`
		arg = auditevent.Day(s.Date)
	case s.CorrelationID != "":
		sql = `SELECT DISTINCT ledger_seq FROM audit.audit_events WHERE correlation_id = $1`
		arg = s.CorrelationID
	default:
		return nil, nil
	}
	rows, err := pool.Query(ctx, sql+" ORDER BY 1", arg)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if seqs == nil {
		seqs = []int64{}
	}
	return seqs, err
}
