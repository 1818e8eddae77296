package archive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive/bucket"
	"function/archive/format"
)

// Legal hold actions (audit.legal_holds.action).
const (
	HoldPlaced   = "placed"
	HoldReleased = "released"
)

// HoldRow is one row of audit.legal_holds: a placement or a release.
type HoldRow struct {
	ID            int64
	CorrelationID string
	Action        string
	Reason        string
	Actor         string
	RecordedAt    time.Time
	EventID       uuid.UUID
}

// ErrHoldState: the correlation id's hold is not in the state the action
// needs (placing a placed hold, releasing one that is not placed). Newest
// is then its newest row, if any.
type ErrHoldState struct{ Newest *HoldRow }

func (e *ErrHoldState) Error() string {
	if e.Newest == nil {
		return "no legal hold on this correlation id"
	}
	return fmt.Sprintf("legal hold is %s already (by %s at %s)", e.Newest.Action, e.Newest.Actor, e.Newest.RecordedAt.Format(time.RFC3339))
}

// Holds places and releases legal holds: rows in audit.legal_holds and the
// S3 legal hold of every archived part holding the correlation id.
type Holds struct {
	pool  *pgxpool.Pool
	store *bucket.Store // nil without an archive bucket: then no part exists
}

// NewHolds works on the log in pool and the archive in store (nil: none).
func NewHolds(pool *pgxpool.Pool, store *bucket.Store) *Holds {
	return &Holds{pool: pool, store: store}
}

// holdLock serialises every change of S3 legal holds (placing, releasing,
// the compactor holding a new part): each decides a part's hold from the
// rows it reads under the lock, so the last to write it read the newest rows.
const holdLock = 0x686f6c64 // "hold"

// Place records a hold on correlation id c and puts every archived part
// holding c under S3 legal hold, in one transaction: the row is committed
// only once the parts are held, so no hold is recorded that did not take
// effect. A failure can leave some parts held without a row; retrying
// places the hold.
func (h *Holds) Place(ctx context.Context, c, reason, actor string) (HoldRow, error) {
	return h.record(ctx, c, HoldPlaced, reason, actor)
}

// Release records the end of the hold on c and lifts the S3 legal hold of
// its parts, except those another placed hold still needs.
func (h *Holds) Release(ctx context.Context, c, reason, actor string) (HoldRow, error) {
	return h.record(ctx, c, HoldReleased, reason, actor)
}

const holdColumns = `id, correlation_id, action, reason, actor, recorded_at, event_id`

func scanHold(row pgx.Row) (HoldRow, error) {
	var r HoldRow
	err := row.Scan(&r.ID, &r.CorrelationID, &r.Action, &r.Reason, &r.Actor, &r.RecordedAt, &r.EventID)
	r.RecordedAt = r.RecordedAt.UTC()
	return r, err
}

func (h *Holds) record(ctx context.Context, c, action, reason, actor string) (HoldRow, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return HoldRow{}, err
	}
	var out HoldRow
	err = withHoldLock(ctx, h.pool, func(tx pgx.Tx) error {
		row, err := scanHold(tx.QueryRow(ctx, `INSERT INTO audit.legal_holds (correlation_id, action, reason, actor, event_id)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+holdColumns, c, action, reason, actor, id))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "AU003" {
			return &ErrHoldState{}
		}
		if err != nil {
			return err
		}
		out = row
		rows, err := tx.Query(ctx, `SELECT event_date, part, object_key, object_version FROM audit.correlation_parts($1)`, c)
		if err != nil {
			return err
		}
		parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[heldPart])
		if err != nil {
			return err
		}
		if err := h.sync(ctx, tx, parts); err != nil || len(parts) == 0 {
			return err
		}
		var days []time.Time
		for _, p := range parts {
			if !slices.ContainsFunc(days, p.Day.Equal) {
				days = append(days, p.Day)
			}
		}
		return h.holdEvidence(ctx, tx, days)
	})
	var state *ErrHoldState
	if errors.As(err, &state) {
		if newest, ok, nerr := h.newest(ctx, c); nerr != nil {
			return HoldRow{}, nerr
		} else if ok {
			state.Newest = &newest
		}
	}
	return out, err
}

// newest is c's newest row.
func (h *Holds) newest(ctx context.Context, c string) (HoldRow, bool, error) {
	r, err := scanHold(h.pool.QueryRow(ctx, `SELECT `+holdColumns+` FROM audit.legal_holds WHERE correlation_id = $1 ORDER BY id DESC LIMIT 1`, c))
	if errors.Is(err, pgx.ErrNoRows) {
		return HoldRow{}, false, nil
	}
	return r, err == nil, err
}

// heldPart is an archived part's object.
type heldPart struct {
	Day     time.Time
	Part    int
	Key     string
	Version string
}

// sync sets each part's S3 legal hold to whether a placed hold needs it.
func (h *Holds) sync(ctx context.Context, tx pgx.Tx, parts []heldPart) error {
	for _, p := range parts {
		var on bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM audit.active_legal_holds h, audit.correlation_parts(h.correlation_id) p
			WHERE p.event_date = $1 AND p.part = $2)`, p.Day, p.Part).Scan(&on); err != nil {
			return err
		}
		if h.store == nil {
			return fmt.Errorf("part %s is archived but no archive bucket is configured", p.Key)
		}
		if err := h.store.SetLegalHold(ctx, p.Key, p.Version, on); err != nil {
			return err
		}
	}
	return nil
}

// holdEvidence sets the S3 legal hold of what verifies held parts, so that
// a held part never outlives it: each manifest of the days given and its
// signature, held while a placed hold needs a part it lists (manifest N
// lists parts 1..N), and the published public keys, held while any placed
// hold needs an archived part. Placing and releasing set them for the
// hold's days; the compactor, for a manifest as it writes it
// (holdManifests).
func (h *Holds) holdEvidence(ctx context.Context, tx pgx.Tx, days []time.Time) error {
	for _, d := range days {
		var lowest *int
		var last int
		if err := tx.QueryRow(ctx, `SELECT (SELECT min(p.part) FROM audit.active_legal_holds h, audit.correlation_parts(h.correlation_id) p
			WHERE p.event_date = $1), (SELECT coalesce(max(part), 0) FROM audit.archive_days WHERE event_date = $1)`, d).Scan(&lowest, &last); err != nil {
			return err
		}
		for n := 1; n <= last; n++ {
			m := format.ManifestKey(d, n)
			for _, key := range []string{m, format.SignatureKey(m)} {
				info, exists, err := h.store.Version(ctx, key)
				if err != nil {
					return err
				}
				if !exists {
					continue
				}
				if err := h.store.SetLegalHold(ctx, key, info.VersionID, lowest != nil && n >= *lowest); err != nil {
					return err
				}
			}
		}
	}
	var needed bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM audit.active_legal_holds h, audit.correlation_parts(h.correlation_id))`).Scan(&needed); err != nil {
		return err
	}
	keys, err := h.store.List(ctx, format.ManifestPrefix+"keys/")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := h.store.SetLegalHold(ctx, k.Key, k.VersionID, needed); err != nil {
			return err
		}
	}
	return nil
}

// withHoldLock runs fn in a transaction holding holdLock.
func withHoldLock(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, holdLock); err != nil {
			return err
		}
		return fn(tx)
	})
}

// holdPart gives a part just recorded as uploaded the S3 legal hold its
// correlation ids' placed holds call for. It runs after 'uploaded' is
// committed and before 'manifested' is: a crash in between repeats it on
// the next run. A hold placed concurrently is not missed: its transaction
// either commits before this one reads the holds (so this sees it), or
// takes holdLock after this one, by when 'uploaded' is committed and the
// placement finds the part through audit.correlation_parts.
func (c *Compactor) holdPart(ctx context.Context, p *partState) error {
	h := NewHolds(c.pool, c.store)
	return withHoldLock(ctx, c.pool, func(tx pgx.Tx) error {
		return h.sync(ctx, tx, []heldPart{{p.Range.Day, p.Part, p.Key, p.VersionID}})
	})
}

// holdManifests gives day d's manifests (the one just written among them)
// the S3 legal hold the placed holds call for, when any needs a part of d.
func (c *Compactor) holdManifests(ctx context.Context, d time.Time) error {
	h := NewHolds(c.pool, c.store)
	return withHoldLock(ctx, c.pool, func(tx pgx.Tx) error {
		var held bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM audit.active_legal_holds h, audit.correlation_parts(h.correlation_id) p
			WHERE p.event_date = $1)`, d).Scan(&held); err != nil || !held {
			return err
		}
		return h.holdEvidence(ctx, tx, []time.Time{d})
	})
}

// List is every hold placement, newest first, each with the release that
// ended it, if any; only correlation id c's unless c is "".
func (h *Holds) List(ctx context.Context, c string) ([][2]*HoldRow, error) {
	rows, err := h.pool.Query(ctx, `SELECT `+holdColumns+` FROM audit.legal_holds
		WHERE $1 = '' OR correlation_id = $1 ORDER BY correlation_id, id`, c)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HoldRow, error) { return scanHold(r) })
	if err != nil {
		return nil, err
	}
	// The trigger keeps a correlation id's rows alternating placed, released.
	var out [][2]*HoldRow
	for i := range all {
		if all[i].Action == HoldPlaced {
			out = append(out, [2]*HoldRow{&all[i], nil})
		} else if n := len(out); n > 0 && out[n-1][0].CorrelationID == all[i].CorrelationID {
			out[n-1][1] = &all[i]
		}
	}
	slices.SortFunc(out, func(a, b [2]*HoldRow) int { return cmp.Compare(b[0].ID, a[0].ID) })
	return out, nil
}

// Unlogged are the rows whose audit event is not in the log yet: not
// sent, or not delivered yet. audit.event_keys keeps every stored event's
// id, also after its day is archived, so a row is unlogged only until its
// event is stored.
func (h *Holds) Unlogged(ctx context.Context) ([]HoldRow, error) {
	rows, err := h.pool.Query(ctx, `SELECT `+holdColumns+` FROM audit.legal_holds l
		WHERE NOT EXISTS (SELECT FROM audit.event_keys k WHERE k.event_id = l.event_id) ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HoldRow, error) { return scanHold(r) })
}
