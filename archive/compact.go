package archive

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive/bucket"
	"function/shared/auditevent"
	"function/shared/tlog"
)

// runLock is the session advisory lock that lets one compaction run at a
// time across every collector replica and cmd/compact.
const runLock = 0x61726368697665 // "archive"

// Point is a place in a compaction where a test can stop it, as a crash
// would: the step before it is done, the next one not started.
type Point string

// The fault-injection points.
const (
	AfterCheckpoint Point = "after-checkpoint" // checkpoint stored, its signature not yet
	AfterUpload     Point = "after-upload"     // part object stored, state not yet 'uploaded'
	AfterManifest   Point = "after-manifest"   // manifest and signature stored, state not yet 'manifested'
	AfterVerify     Point = "after-verify"     // state 'verified', partition not yet dropped
	DuringDrop      Point = "during-drop"      // partition detached and dropped in the open transaction
)

// Options tune a Compactor. The zero value is production behaviour.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// TempDir holds part files while they are written and read back.
	TempDir string
	// MaxPartRows splits a day into parts of about this many rows (whole
	// ledger batches); default 10M. Verification memory does not grow with it.
	MaxPartRows int64
	// TestRetentionDays, for tests only, replaces Config.RetentionDays and
	// skips its 90-day minimum. No setting reaches it.
	TestRetentionDays int
	// Hook, for fault-injection tests, runs at each Point; an error stops
	// the run there, as a kill would.
	Hook func(p Point, day time.Time, part int) error
	// RunBudget, when set, stops a run from starting another day once it
	// has run this long (it always does one); the rest waits for the next
	// run (Report.More).
	RunBudget time.Duration
}

// Compactor archives cold days. Safe for concurrent use; runs exclude each
// other through runLock.
type Compactor struct {
	pool      *pgxpool.Pool
	store     *bucket.Store
	signer    *Signer
	tree      *tlog.Signer // the same key, signing the tree's checkpoints
	cfg       Config
	opts      Options
	retention int
}

// New checks the settings, loads the signing key and refuses a bucket
// without Object Lock.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config, opts Options) (*Compactor, error) {
	retention := cfg.RetentionDays
	if opts.TestRetentionDays > 0 {
		retention = opts.TestRetentionDays
		cfg.RetentionDays = MinRetentionDays // only to pass validate
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.MaxPartRows <= 0 {
		opts.MaxPartRows = 10_000_000
	}
	signer, err := LoadSigner(cfg.SigningKeyPath)
	if err != nil {
		return nil, err
	}
	tree, err := treeSigner(cfg, signer)
	if err != nil {
		return nil, err
	}
	st, err := bucket.Open(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	return &Compactor{pool: pool, store: st, signer: signer, tree: tree, cfg: cfg, opts: opts, retention: retention}, nil
}

// Report tells what a run did.
type Report struct {
	// Skipped: another run held the lock, so this one did nothing.
	Skipped bool `json:"skipped"`
	// More: the run budget ran out with cold days left for the next run.
	More bool        `json:"more"`
	Days []DayReport `json:"days"`
}

// DayReport is one day of a run.
type DayReport struct {
	Date string `json:"date"`
	// Parts archived (verified) in this run, and their rows.
	Parts []int `json:"parts,omitempty"`
	Rows  int64 `json:"rows"`
	// Dropped: the hot partition is gone. A day that kept receiving late
	// events stays hot until a later run.
	Dropped bool `json:"dropped"`
}

// Run compacts every day older than the hot window, oldest first, after
// finishing any day an earlier run left half done. It stops at the first
// failing day: the manifest chain must not move past a day stuck mid-way.
func (c *Compactor) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return Report{}, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, runLock).Scan(&locked); err != nil {
		return Report{}, fmt.Errorf("compaction lock: %w", err)
	}
	if !locked {
		return Report{Skipped: true, Days: []DayReport{}}, nil
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, runLock); err != nil {
			// A session lock must not go back to the pool: end the session.
			_ = conn.Conn().Close(context.Background())
		}
	}()

	// Pin the chain's head first, so even a run with nothing cold to do
	// leaves a signed, locked record of how far the ledger reached.
	if err := c.checkpoint(ctx); err != nil {
		return Report{}, fmt.Errorf("checkpoint: %w", err)
	}
	days, err := c.days(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Days: []DayReport{}}
	for i, d := range days {
		if i > 0 && c.opts.RunBudget > 0 && time.Since(start) > c.opts.RunBudget {
			rep.More = true
			break
		}
		dr, err := c.compactDay(ctx, d)
		if len(dr.Parts) > 0 || dr.Dropped {
			rep.Days = append(rep.Days, dr)
		}
		if err != nil {
			return rep, fmt.Errorf("archive %s: %w", d.Format(time.DateOnly), err)
		}
	}
	return rep, nil
}

// days lists the days to work on: those with an unfinished part first, then
// every partition older than the hot window (partitions are named
// audit_events_YYYYMMDD by audit.ensure_partition).
func (c *Compactor) days(ctx context.Context) ([]time.Time, error) {
	cutoff := auditevent.Day(c.opts.Now()).AddDate(0, 0, -c.cfg.HotDays)
	rows, err := c.pool.Query(ctx, `
		SELECT d FROM (
		  SELECT event_date AS d, 0 AS pass FROM (
		    SELECT DISTINCT ON (event_date, part) event_date, state FROM audit.archive_days
		     ORDER BY event_date, part, array_position($2::text[], state) DESC) latest
		   WHERE state <> 'dropped'
		  UNION
		  SELECT to_date(substr(c.relname, length('audit_events_') + 1), 'YYYYMMDD'), 1
		    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		   WHERE i.inhparent = 'audit.audit_events'::regclass AND c.relname ~ '^audit_events_[0-9]{8}$') days
		WHERE pass = 0 OR d < $1 GROUP BY d ORDER BY min(pass), d`, cutoff, states)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var d time.Time
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, auditevent.Day(d))
	}
	return out, rows.Err()
}

func (c *Compactor) hook(p Point, d time.Time, part int) error {
	if c.opts.Hook == nil {
		return nil
	}
	return c.opts.Hook(p, d, part)
}

// minLock is the shortest Object Lock an object gets, for late events of a
// day whose retention has already run out when they are archived.
const minLock = 24 * time.Hour

// retainUntil is when an object of day d may be deleted: the end of its
// retention, but never less than minLock from now.
func (c *Compactor) retainUntil(d time.Time) time.Time {
	until := d.AddDate(0, 0, c.retention)
	if floor := c.opts.Now().Add(minLock).Truncate(time.Second).Add(time.Second); until.Before(floor) {
		return floor.UTC()
	}
	return until.UTC()
}
