package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"function/archive/format"
	"function/shared/tlog"
)

// errLateRows: the partition received rows after its archive was verified.
var errLateRows = errors.New("late events arrived for the day")

// lateRetries bounds how often one run chases late events of a day.
const lateRetries = 3

// compactDay archives whatever rows of day d are not archived yet, then
// drops its partition.
func (c *Compactor) compactDay(ctx context.Context, d time.Time) (DayReport, error) {
	rep := DayReport{Date: d.Format(time.DateOnly)}
	for attempt := 1; ; attempt++ {
		done, err := c.archiveRows(ctx, d)
		for _, p := range done {
			rep.Parts = append(rep.Parts, p.Part)
			rep.Rows += p.Stats.Rows
		}
		if err != nil {
			return rep, err
		}
		err = c.drop(ctx, d)
		switch {
		case err == nil:
			rep.Dropped = true
			c.opts.Logger.Info("dropped archived day", "date", rep.Date, "new_parts", rep.Parts, "rows", rep.Rows)
			return rep, nil
		case errors.Is(err, errLateRows) && attempt < lateRetries:
			continue
		case errors.Is(err, errLateRows):
			c.opts.Logger.Warn("day keeps receiving late events; it stays hot until the next run", "date", rep.Date)
			return rep, nil
		}
		return rep, err
	}
}

// archiveRows finishes the day's unfinished part, if any, then archives the
// rows no part covers yet, up to the verified state. It returns the parts
// it verified.
func (c *Compactor) archiveRows(ctx context.Context, d time.Time) ([]partState, error) {
	parts, err := loadParts(ctx, c.pool, d)
	if err != nil {
		return nil, err
	}
	var done []partState
	var last *partState
	if len(parts) > 0 {
		last = &parts[len(parts)-1]
		if slices.Contains([]string{stateWriting, stateUploaded, stateManifested}, last.State) {
			if err := c.finish(ctx, last); err != nil {
				return done, err
			}
			done = append(done, *last)
		}
	}
	for {
		p := partState{State: stateWriting, Part: 1, Range: partRange{Day: d}}
		if last != nil {
			p.Part, p.Range.After = last.Part+1, last.Range.Through
		}
		through, ok, err := c.nextRange(ctx, d, p.Range.After)
		if err != nil || !ok {
			return done, err
		}
		p.Range.Through, p.Key = through, format.PartKey(d, p.Part)
		if err := record(ctx, c.pool, &p); err != nil {
			return done, fmt.Errorf("start part %d: %w", p.Part, err)
		}
		if err := c.finish(ctx, &p); err != nil {
			return done, err
		}
		done = append(done, p)
		last = &p
	}
}

// nextRange picks the ledger range of the next part of day d: from after up
// to the ledger head, once the tree holds it, cut at a batch boundary once MaxPartRows is
// reached. The tree reads its leaves from the hot tier, so an event leaves
// it only once it is in the tree.
// ok is false when no row of d lies above after.
func (c *Compactor) nextRange(ctx context.Context, d time.Time, after int64) (int64, bool, error) {
	tree, err := tlog.CatchUp(ctx, c.pool, c.tree)
	if err != nil {
		return 0, false, fmt.Errorf("tree: %w", err)
	}
	head := tree.Seq
	rows, err := c.pool.Query(ctx, `SELECT ledger_seq, count(*) FROM audit.audit_events
		WHERE event_date = $1 AND ledger_seq > $2 AND ledger_seq <= $3 GROUP BY ledger_seq ORDER BY ledger_seq`, d, after, head)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var seq, n, total int64
	for rows.Next() {
		if err := rows.Scan(&seq, &n); err != nil {
			return 0, false, err
		}
		if total += n; total >= c.opts.MaxPartRows {
			return seq, true, nil
		}
	}
	return head, total > 0, rows.Err()
}

// drop detaches and drops day d's partition through audit.drop_archived_day,
// which checks that every row it holds is in a verified part.
func (c *Compactor) drop(ctx context.Context, d time.Time) error {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var n int64
	if err := tx.QueryRow(ctx, `SELECT audit.drop_archived_day($1)`, d).Scan(&n); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "AU001" {
			return fmt.Errorf("%w: %s", errLateRows, pgErr.Message)
		}
		return fmt.Errorf("drop partition: %w", err)
	}
	if err := c.hook(DuringDrop, d, 0); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
