// Package interop checks that other engines read the archive as written: it
// compacts days into a real Object Lock bucket, downloads the objects and
// queries them with DuckDB, the way docs/archive.md tells an auditor to.
package interop

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
)

// download copies every object under audit_events/ into dir, keeping keys
// as paths.
func download(t testing.TB, e *archivetest.Env, dir string) {
	t.Helper()
	c := e.Bucket.Client(t)
	for _, key := range e.Keys(t, "audit_events/") {
		path := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, c.FGetObject(context.Background(), e.Bucket.Name, key, path, minio.GetObjectOptions{}))
	}
}

func duck(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDuckDBReadsTheArchiveWithHivePartitioning(t *testing.T) {
	e := archivetest.New(t)
	days := []time.Time{archivetest.DaysAgo(12), archivetest.DaysAgo(11)}
	seeded := 0
	for i, d := range days {
		seeded += len(e.Seed(t, d, 200+i*50))
	}
	hot := map[time.Time]int{}
	for _, d := range days {
		hot[d] = len(e.HotRecords(t, d))
	}
	rep, err := e.Compactor(t, archive.Options{}).Run(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Days, 2)

	dir := t.TempDir()
	download(t, e, dir)
	db := duck(t)
	src := "read_parquet('" + filepath.ToSlash(dir) + "/audit_events/*/*.parquet', hive_partitioning=true)"

	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+src).Scan(&n))
	assert.Equal(t, seeded, n)
	for _, d := range days {
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+src+` WHERE event_date = ?`, d.Format(time.DateOnly)).Scan(&n))
		assert.Equal(t, hot[d], n, "partition pruning on event_date %s", d.Format(time.DateOnly))
	}

	// One remediation's trail, as an auditor asks for it.
	rr := e.ArchivedRecords(t, days[0])[7].CorrelationID
	rows, err := db.Query(`SELECT event_type, event_time FROM `+src+` WHERE correlation_id = ? ORDER BY event_time`, rr)
	require.NoError(t, err)
	var types []string
	for rows.Next() {
		var ty string
		var at time.Time
		require.NoError(t, rows.Scan(&ty, &at))
		types = append(types, ty)
	}
	require.NoError(t, rows.Err())
	assert.Len(t, types, 5, "the five events of %s", rr)

	// event_time is a UTC timestamp with microseconds; event_date a DATE.
	var timeType, dateType, dataType string
	require.NoError(t, db.QueryRow(`SELECT typeof(event_time), typeof(event_date), typeof(event_data) FROM `+src+` LIMIT 1`).Scan(&timeType, &dateType, &dataType))
	assert.Equal(t, "TIMESTAMP WITH TIME ZONE", timeType)
	assert.Equal(t, "DATE", dateType)
	assert.Equal(t, "VARCHAR", dataType)
	want := e.ArchivedRecords(t, days[1])[0]
	var at time.Time
	var id string
	require.NoError(t, db.QueryRow(`SELECT event_time, event_id FROM `+src+` WHERE event_id = ?`, want.ID.String()).Scan(&at, &id))
	assert.True(t, want.Time.Equal(at), "event_time %s, want %s", at, want.Time)
	assert.Equal(t, want.Time.Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano), "microseconds survive")
	assert.Equal(t, want.ID.String(), id)
}
