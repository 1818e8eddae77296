package interop

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/auditstore"
)

// BenchmarkArchiveVsDuckDB puts the archive next to DuckDB on the same 200k
// rows in the same run (`make bench`):
//   - end to end: archive.Compactor.Run, PostgreSQL → verified, locked
//     Parquet with a signed manifest, partition dropped; against DuckDB
//     doing PostgreSQL → Parquet (the same pgx read, an Appender, a sorted
//     COPY ... TO parquet), with no upload and no verification.
//   - encoding alone: format.Writer over rows in memory against
//     DuckDB's COPY of the same rows from a table.
//
// It prints figures and asserts nothing about speed.
func BenchmarkArchiveVsDuckDB(b *testing.B) {
	const rows = 200_000
	ctx := context.Background()
	for range b.N {
		e := archivetest.New(b)
		day := archivetest.DaysAgo(30)
		e.Seed(b, day, rows)
		dir := b.TempDir()

		// DuckDB: PostgreSQL → Parquet.
		start := time.Now()
		recs := e.HotRecords(b, day)
		connector, db := newDuck(b)
		loadDuck(b, connector, recs)
		duckFile := filepath.Join(dir, "duck.parquet")
		copyDuck(b, db, duckFile)
		duckPG := time.Since(start)

		// Encoding alone, both from memory.
		start = time.Now()
		copyDuck(b, db, filepath.Join(dir, "duck2.parquet"))
		duckEncode := time.Since(start)
		oursFile := filepath.Join(dir, "ours.parquet")
		f, err := os.Create(oursFile)
		require.NoError(b, err)
		start = time.Now()
		w, err := format.NewWriter(f)
		require.NoError(b, err)
		for i := range recs {
			require.NoError(b, w.Add(&recs[i]))
		}
		require.NoError(b, w.Close())
		oursEncode := time.Since(start)
		require.NoError(b, f.Close())

		// The archive, end to end.
		start = time.Now()
		rep, err := e.Compactor(b, archive.Options{}).Run(ctx)
		oursE2E := time.Since(start)
		require.NoError(b, err)
		require.True(b, rep.Days[0].Dropped)

		rate := func(d time.Duration) float64 { return rows / d.Seconds() }
		b.ReportMetric(rate(oursE2E), "archive_rows/s")
		b.ReportMetric(rate(duckPG), "duckdb_pg_to_parquet_rows/s")
		b.ReportMetric(rate(oursE2E)/rate(duckPG), "archive/duckdb")
		b.ReportMetric(rate(oursEncode), "encode_rows/s")
		b.ReportMetric(rate(duckEncode), "duckdb_encode_rows/s")
		b.ReportMetric(rate(oursEncode)/rate(duckEncode), "encode/duckdb")
		b.ReportMetric(float64(size(b, oursFile))/rows, "B/event")
		b.ReportMetric(float64(size(b, duckFile))/rows, "duckdb_B/event")
		b.Logf("archive end to end %.0f rows/s vs DuckDB PostgreSQL→Parquet %.0f rows/s (%.2f×); encoding %.0f vs %.0f rows/s (%.2f×); %.1f vs %.1f B/event",
			rate(oursE2E), rate(duckPG), rate(oursE2E)/rate(duckPG), rate(oursEncode), rate(duckEncode), rate(oursEncode)/rate(duckEncode),
			float64(size(b, oursFile))/rows, float64(size(b, duckFile))/rows)
	}
}

func size(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	require.NoError(b, err)
	return st.Size()
}

func newDuck(b *testing.B) (*duckdb.Connector, *sql.DB) {
	connector, err := duckdb.NewConnector("", nil)
	require.NoError(b, err)
	db := sql.OpenDB(connector)
	b.Cleanup(func() { db.Close() })
	text := make([]string, 0, len(auditstore.Columns))
	for _, c := range auditstore.Columns {
		ty := "VARCHAR"
		switch c {
		case "event_time", "received_at":
			ty = "TIMESTAMPTZ"
		case "event_date":
			ty = "DATE"
		case "ledger_seq":
			ty = "BIGINT"
		case "ledger_pos":
			ty = "INTEGER"
		case "event_hash":
			ty = "BLOB"
		}
		text = append(text, c+" "+ty)
	}
	_, err = db.Exec(`CREATE TABLE events (` + strings.Join(text, ", ") + `)`)
	require.NoError(b, err)
	return connector, db
}

func loadDuck(b *testing.B, connector *duckdb.Connector, recs []auditevent.Record) {
	conn, err := connector.Connect(context.Background())
	require.NoError(b, err)
	defer conn.Close()
	app, err := duckdb.NewAppenderFromConn(conn, "", "events")
	require.NoError(b, err)
	for i := range recs {
		row := auditstore.Values(&recs[i])
		vals := make([]driver.Value, len(row))
		for j, v := range row {
			if id, ok := v.([16]byte); ok { // the event id
				v = uuid.UUID(id).String()
			}
			vals[j] = v
		}
		require.NoError(b, app.AppendRow(vals...))
	}
	require.NoError(b, app.Close())
}

func copyDuck(b *testing.B, db *sql.DB, path string) {
	_, err := db.Exec(`COPY (SELECT * FROM events ORDER BY correlation_id, event_time) TO '` + path +
		`' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)`)
	require.NoError(b, err)
}
