// Package auditlog is the audit log as its readers see it: one owner of the
// hot tier (PostgreSQL, shared/auditstore) and the cold one (the archive,
// archive.Reader), answering searches, counts and verification over both,
// so callers never know which tier an event is in.
package auditlog

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive"
	"function/archive/bucket"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/tlog"
	"function/shared/verify"
)

// Log reads the audit log.
type Log struct {
	pool *pgxpool.Pool
	cold *archive.Reader // nil without an archive bucket
	ver  *verify.Verifier
}

// Open reads the log through pool and, when the settings name an archive
// bucket, the archive.
func Open(ctx context.Context, pool *pgxpool.Pool, c config.Config) (*Log, error) {
	witnesses, err := tlog.PolicyFromSettings(c)
	if err != nil {
		return nil, err
	}
	l := &Log{pool: pool}
	if !bucket.Configured(c) {
		l.ver = verify.Live(pool, nil, nil).RequireWitnesses(witnesses)
		return l, nil
	}
	cold, err := archive.NewReader(ctx, pool, c)
	if err != nil {
		return nil, err
	}
	l.cold, l.ver = cold, verify.Live(pool, cold, cold.Source()).RequireWitnesses(witnesses)
	return l, nil
}

// Holds places and releases legal holds on the log's archived parts.
func (l *Log) Holds() *archive.Holds {
	if l.cold == nil {
		return archive.NewHolds(l.pool, nil)
	}
	return l.cold.Holds()
}

// Search returns one page of the events f selects. Each tier yields its
// first page in order; the merge keeps the first Limit.
func (l *Log) Search(ctx context.Context, f auditstore.Filter, p auditstore.Page) ([]auditevent.Record, error) {
	recs, err := auditstore.Search(ctx, l.pool, f, p)
	if err != nil || l.cold == nil {
		return recs, err
	}
	cold, err := l.cold.Search(ctx, f, p)
	if err != nil {
		return nil, err
	}
	recs = append(recs, cold...)
	slices.SortFunc(recs, func(a, b auditevent.Record) int { return p.Compare(auditstore.KeyOf(&a), auditstore.KeyOf(&b)) })
	return recs[:min(len(recs), p.Limit)], nil
}

// Count counts the events f selects per value of the dimension.
func (l *Log) Count(ctx context.Context, f auditstore.Filter, by auditstore.GroupBy) (map[string]int64, error) {
	counts, err := auditstore.Count(ctx, l.pool, f, by)
	if err != nil || l.cold == nil {
		return counts, err
	}
	cold, err := l.cold.Count(ctx, f, by)
	for k, n := range cold {
		counts[k] += n
	}
	return counts, err
}

// Verify checks the scope through the one verifier: chain, archived events,
// manifests and the newest checkpoint.
func (l *Log) Verify(ctx context.Context, s verify.Scope) (verify.Report, error) {
	return l.ver.Verify(ctx, s)
}
