package archive_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
)

// The database itself, not only the compactor, keeps rows from leaving
// before their archive is verified.
func TestTheDatabaseDropsOnlyVerifiedDays(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	d := archivetest.DaysAgo(12)
	e.Seed(t, d, 10)
	app := e.Pool
	exec := func(sql string, args ...any) error {
		_, err := app.Exec(ctx, sql, args...)
		return err
	}

	err := exec(`SELECT audit.drop_archived_day($1)`, d)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not archived yet")
	assert.Error(t, exec(`DROP TABLE audit.audit_events_`+d.Format("20060102")), "the application role may not drop tables")
	assert.Error(t, exec(`ALTER TABLE audit.audit_events DETACH PARTITION audit.audit_events_`+d.Format("20060102")))

	insert := func(part int, state string) error {
		return exec(`INSERT INTO audit.archive_days (event_date, part, state, seq_after, seq_through, object_key,
			object_version, object_size, object_sha256, row_count, events_digest, min_event_time, max_event_time,
			manifest_seq, manifest_key, manifest_sha256)
			VALUES ($1, $2, $3, 0, 1, 'k', 'v', 1, $4, 10, $4, now(), now(), 99, 'm', $4)`, d, part, state, make([]byte, 32))
	}
	assert.ErrorContains(t, insert(1, "verified"), "must start in state writing", "no skipping to verified")
	assert.ErrorContains(t, insert(2, "writing"), "must follow a verified part", "no part 2 before part 1")
	require.NoError(t, insert(1, "writing"))
	assert.ErrorContains(t, insert(1, "manifested"), "cannot go from writing to manifested")
	assert.ErrorContains(t, insert(1, "dropped"), "only audit.drop_archived_day")
	for _, sql := range []string{`UPDATE audit.archive_days SET state = 'verified'`, `DELETE FROM audit.archive_days`, `TRUNCATE audit.archive_days`} {
		assert.ErrorContains(t, exec(sql), "permission denied", "the application role: %s", sql)
		admin, err := pgx.Connect(ctx, e.DB.AdminDSN)
		require.NoError(t, err)
		_, err = admin.Exec(ctx, sql)
		assert.ErrorContains(t, err, "append-only", "the schema owner: %s", sql)
		admin.Close(ctx)
	}
	assert.ErrorContains(t, exec(`SELECT audit.drop_archived_day($1)`, d), "part 1 is writing, not verified")

	yesterday := archivetest.DaysAgo(1)
	e.Seed(t, yesterday, 1)
	assert.ErrorContains(t, exec(`SELECT audit.drop_archived_day($1)`, yesterday), "not older than yesterday")
	assert.Equal(t, int64(10), e.Count(t, d))
}

func TestEmptyColdPartitionsAreDropped(t *testing.T) {
	e := archivetest.New(t)
	d := archivetest.DaysAgo(30)
	_, err := e.Pool.Exec(context.Background(), `SELECT audit.ensure_partition($1)`, d)
	require.NoError(t, err)
	rep, err := e.Compactor(t, archive.Options{}).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []archive.DayReport{{Date: d.Format(time.DateOnly), Dropped: true}}, rep.Days)
	assert.False(t, e.PartitionExists(t, d))
	assert.Empty(t, e.Keys(t, "audit_events/"), "nothing to archive, nothing written")
}
