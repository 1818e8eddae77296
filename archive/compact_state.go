package archive

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"function/archive/format"
	"function/shared/auditstore"
)

// The states of an archive part (audit.archive_days.state).
const (
	stateWriting    = "writing"    // range fixed; object being written
	stateUploaded   = "uploaded"   // object stored under Object Lock
	stateManifested = "manifested" // signed manifest covering it stored
	stateVerified   = "verified"   // object and manifest read back and checked against PostgreSQL
	stateDropped    = "dropped"    // its rows left PostgreSQL with the partition
)

// partState is the newest audit.archive_days row of one part.
type partState struct {
	State      string
	Part       int
	Range      partRange
	Key        string
	VersionID  string
	Size       int64
	SHA256     []byte
	Stats      format.ContentStats
	Digest     []byte
	Manifest   manifestRef
	RecordedAt time.Time
}

// manifestRef places a manifest in the chain.
type manifestRef struct {
	Seq    int64
	Key    string
	SHA256 []byte
}

// executor runs statements: a pool, a connection or a transaction.
type executor interface {
	auditstore.Querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// states is the order a part goes through them, handed to SQL as a text[]
// to find a part's newest state. The table's trigger enforces the same
// order (TestStatesFollowTheTablesOrder checks they agree).
var states = []string{stateWriting, stateUploaded, stateManifested, stateVerified, stateDropped}

// loadParts returns the newest state of every part of day d, by part.
func loadParts(ctx context.Context, q executor, d time.Time) ([]partState, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (part) state, part, seq_after, seq_through, object_key,
		coalesce(object_version, ''), coalesce(object_size, 0), object_sha256, coalesce(row_count, 0), events_digest,
		coalesce(min_event_time, 'epoch'), coalesce(max_event_time, 'epoch'),
		coalesce(manifest_seq, 0), coalesce(manifest_key, ''), manifest_sha256, recorded_at
		FROM audit.archive_days WHERE event_date = $1 ORDER BY part, array_position($2::text[], state) DESC`, d, states)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (partState, error) {
		p := partState{Range: partRange{Day: d}}
		err := r.Scan(&p.State, &p.Part, &p.Range.After, &p.Range.Through, &p.Key,
			&p.VersionID, &p.Size, &p.SHA256, &p.Stats.Rows, &p.Digest,
			&p.Stats.MinEventTime, &p.Stats.MaxEventTime,
			&p.Manifest.Seq, &p.Manifest.Key, &p.Manifest.SHA256, &p.RecordedAt)
		p.Stats.MinEventTime, p.Stats.MaxEventTime = p.Stats.MinEventTime.UTC(), p.Stats.MaxEventTime.UTC()
		return p, err
	})
}

// record appends p's current state. The table's trigger refuses a
// transition out of order, so a confused run fails instead of lying.
func record(ctx context.Context, q executor, p *partState) error {
	nullIfEmpty := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var rows, size, mseq any
	var minT, maxT any
	if p.State != stateWriting {
		rows, size, minT, maxT = p.Stats.Rows, p.Size, p.Stats.MinEventTime, p.Stats.MaxEventTime
	}
	if p.Manifest.Seq > 0 {
		mseq = p.Manifest.Seq
	}
	_, err := q.Exec(ctx, `INSERT INTO audit.archive_days (event_date, part, state, seq_after, seq_through, object_key,
		object_version, object_size, object_sha256, row_count, events_digest, min_event_time, max_event_time,
		manifest_seq, manifest_key, manifest_sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		p.Range.Day, p.Part, p.State, p.Range.After, p.Range.Through, p.Key,
		nullIfEmpty(p.VersionID), size, p.SHA256, rows, p.Digest, minT, maxT,
		mseq, nullIfEmpty(p.Manifest.Key), p.Manifest.SHA256)
	return err
}

// chainHead is the newest manifest of the chain; Seq 0 when there is none.
func chainHead(ctx context.Context, q executor) (manifestRef, error) {
	var m manifestRef
	err := q.QueryRow(ctx, `SELECT manifest_seq, manifest_key, manifest_sha256 FROM audit.archive_days
		WHERE state = 'manifested' ORDER BY manifest_seq DESC LIMIT 1`).Scan(&m.Seq, &m.Key, &m.SHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return manifestRef{}, nil
	}
	return m, err
}
