package archive

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive/bucket"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/verify"
)

// Reader is the cold tier of the query API: it answers the same searches
// and counts as the hot table, over the parts whose hot rows were dropped.
// A part is read only after its SHA-256 matches the one recorded when it was
// verified, so a swapped object is refused rather than served.
type Reader struct {
	pool  *pgxpool.Pool
	store *bucket.Store

	// seqRanges holds each part's ledger range once read from its footer.
	// A part is a locked object version, so its range never changes, and
	// verifying one old day would otherwise read the footer of every part
	// archived after it, every time.
	mu        sync.Mutex
	seqRanges map[coldPartID][2]int64
}

type coldPartID struct{ key, version string }

// NewReader connects to the archive bucket named by the S3 settings.
func NewReader(ctx context.Context, pool *pgxpool.Pool, c config.Config) (*Reader, error) {
	cfg, err := bucket.FromSettings(c)
	if err != nil {
		return nil, err
	}
	st, err := bucket.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{pool: pool, store: st, seqRanges: map[coldPartID][2]int64{}}, nil
}

// Holds places and releases legal holds on the archive's parts.
func (r *Reader) Holds() *Holds { return NewHolds(r.pool, r.store) }

// Source is the bucket as the verifier reads it.
func (r *Reader) Source() verify.Source { return verify.Bucket(r.store, "") }

// coldPart is an archived part whose rows are no longer hot.
type coldPart struct {
	key, version string
	sha256       []byte
}

// timeParts lists the dropped parts that may hold events of f: those of its
// time range, and for a correlation id only the parts the index names.
func (r *Reader) timeParts(ctx context.Context, f auditstore.Filter) ([]coldPart, error) {
	since, until := f.Since, f.Until
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	if until.IsZero() {
		until = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if f.CorrelationID != "" {
		return r.parts(ctx, `v.max_event_time >= $1 AND v.min_event_time < $2 AND EXISTS (SELECT FROM audit.archive_correlations c
			WHERE c.correlation_id = $3 AND c.event_date = v.event_date AND c.part = v.part)`, since, until, f.CorrelationID)
	}
	return r.parts(ctx, `v.max_event_time >= $1 AND v.min_event_time < $2`, since, until)
}

// parts lists the dropped parts meeting cond (on v, the part's verified row).
func (r *Reader) parts(ctx context.Context, cond string, args ...any) ([]coldPart, error) {
	rows, err := r.pool.Query(ctx, `SELECT v.object_key, v.object_version, v.object_sha256
		FROM audit.archive_days d
		JOIN audit.archive_days v ON v.event_date = d.event_date AND v.part = d.part AND v.state = 'verified'
		WHERE d.state = 'dropped' AND `+cond+`
		ORDER BY d.event_date, d.part`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (coldPart, error) {
		var p coldPart
		err := row.Scan(&p.key, &p.version, &p.sha256)
		return p, err
	})
}

// each calls fn for every archived record f selects.
func (r *Reader) each(ctx context.Context, f auditstore.Filter, fn func(*auditevent.Record)) error {
	parts, err := r.timeParts(ctx, f)
	if err != nil {
		return err
	}
	return r.read(ctx, parts, f, fn)
}

// read calls fn for the records of parts that f selects.
func (r *Reader) read(ctx context.Context, parts []coldPart, f auditstore.Filter, fn func(*auditevent.Record)) error {
	return r.eachPart(ctx, parts, func(body *bytes.Reader) error {
		return format.ReadParquet(ctx, body, func(rec *auditevent.Record) error {
			if f.Matches(rec) {
				fn(rec)
			}
			return nil
		})
	})
}

// eachPart gets each part, refusing one whose SHA-256 is not the one
// recorded when it was verified, and hands it to fn.
func (r *Reader) eachPart(ctx context.Context, parts []coldPart, fn func(*bytes.Reader) error) error {
	for _, p := range parts {
		var buf bytes.Buffer
		_, sum, err := r.store.Get(ctx, p.key, p.version, &buf)
		if err != nil {
			return err
		}
		if !bytes.Equal(sum, p.sha256) {
			return fmt.Errorf("archived object %s (version %s) does not match the SHA-256 recorded when it was verified", p.key, p.version)
		}
		if err := fn(bytes.NewReader(buf.Bytes())); err != nil {
			return fmt.Errorf("%s: %w", p.key, err)
		}
	}
	return nil
}

// Search returns one page of archived events, in the order and after the
// key the page asks for.
func (r *Reader) Search(ctx context.Context, f auditstore.Filter, p auditstore.Page) ([]auditevent.Record, error) {
	var out []auditevent.Record
	err := r.each(ctx, f, func(rec *auditevent.Record) {
		if p.After == nil || p.Compare(auditstore.KeyOf(rec), *p.After) > 0 {
			out = append(out, *rec)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b auditevent.Record) int { return p.Compare(auditstore.KeyOf(&a), auditstore.KeyOf(&b)) })
	return out[:min(len(out), p.Limit)], nil
}

// Count counts archived events per value of the dimension.
func (r *Reader) Count(ctx context.Context, f auditstore.Filter, by auditstore.GroupBy) (map[string]int64, error) {
	out := map[string]int64{}
	err := r.each(ctx, f, func(rec *auditevent.Record) { out[auditstore.GroupKey(rec, by)]++ })
	return out, err
}

// Seqs lists the ledger batches holding archived events of a verification
// scope (verify.Cold), from the columns that place an event rather
// than the payloads.
func (r *Reader) Seqs(ctx context.Context, s verify.Scope) ([]int64, error) {
	f := auditstore.Filter{CorrelationID: s.CorrelationID}
	if !s.Date.IsZero() {
		f.Since, f.Until = s.Date, s.Date.AddDate(0, 0, 1)
	}
	parts, err := r.timeParts(ctx, f)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var seqs []int64
	var placed auditevent.Record // as much of a record as f looks at
	err = r.eachPart(ctx, parts, func(body *bytes.Reader) error {
		return format.LedgerPlaces(ctx, body, func(t time.Time, correlationID string, seq int64) {
			placed.Time, placed.CorrelationID = t, correlationID
			if f.Matches(&placed) && !seen[seq] {
				seen[seq] = true
				seqs = append(seqs, seq)
			}
		})
	})
	return seqs, err
}

// Parts lists the dropped parts that may hold batches from seq on
// (verify.Cold), each with the range of ledger batches its events
// actually belong to, from the statistics in its Parquet footer: a part's
// recorded range starts at batch 0, so only its end (the ledger head when
// it was cut) narrows the list, and only the footer says where in the chain
// its events sit. A part is read in full, and its SHA-256 checked, only when
// verification takes its events.
func (r *Reader) Parts(ctx context.Context, from int64) ([]verify.ColdPart, error) {
	parts, err := r.parts(ctx, `v.seq_through >= $1`, from)
	if err != nil {
		return nil, err
	}
	out := make([]verify.ColdPart, len(parts))
	for i, p := range parts {
		first, last, err := r.seqRange(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = &archivedPart{r: r, p: p, first: first, last: last}
	}
	return out, nil
}

func (r *Reader) seqRange(ctx context.Context, p coldPart) (first, last int64, err error) {
	id := coldPartID{p.key, p.version}
	r.mu.Lock()
	known, ok := r.seqRanges[id]
	r.mu.Unlock()
	if ok {
		return known[0], known[1], nil
	}
	obj, err := r.store.OpenObject(ctx, p.key, p.version)
	if err != nil {
		return 0, 0, err
	}
	defer obj.Close()
	if first, last, err = format.SeqRange(obj); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", p.key, err)
	}
	r.mu.Lock()
	r.seqRanges[id] = [2]int64{first, last}
	r.mu.Unlock()
	return first, last, nil
}

// archivedPart is a dropped part as verification reads it.
type archivedPart struct {
	r           *Reader
	p           coldPart
	first, last int64
}

func (a *archivedPart) Seqs() (first, last int64) { return a.first, a.last }

func (a *archivedPart) Object() (key, version string, sha256 []byte) {
	return a.p.key, a.p.version, a.p.sha256
}

func (a *archivedPart) Each(ctx context.Context, fn func(*auditevent.Record)) error {
	return a.r.read(ctx, []coldPart{a.p}, auditstore.Filter{}, fn)
}
