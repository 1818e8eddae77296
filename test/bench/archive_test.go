package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
)

// BenchmarkArchive measures one day of 200k events going from PostgreSQL to
// a verified, locked Parquet archive: rows/s end to end (read, encode,
// upload, manifest, read back, verify against PostgreSQL, drop), the share
// of each step, and bytes per archived event. test/interop runs DuckDB on
// the same kind of rows for comparison.
func BenchmarkArchive(b *testing.B) {
	const rows = 200_000
	for range b.N {
		e := archivetest.New(b)
		day := archivetest.DaysAgo(30)
		e.Seed(b, day, rows)
		var marks []time.Time
		c := e.Compactor(b, archive.Options{Hook: func(p archive.Point, _ time.Time, _ int) error {
			if p != archive.AfterCheckpoint {
				marks = append(marks, time.Now())
			}
			return nil
		}})
		var (
			rep     archive.Report
			err     error
			elapsed time.Duration
			start   = time.Now()
		)
		// The compactor runs in this process; the rest is PostgreSQL's and
		// MinIO's.
		use := measureCPU(b, 0, func() {
			rep, err = c.Run(context.Background())
			elapsed = time.Since(start)
		})
		require.NoError(b, err)
		require.Len(b, rep.Days, 1)
		require.True(b, rep.Days[0].Dropped)
		require.Equal(b, int64(rows), rep.Days[0].Rows)
		require.Len(b, marks, 4) // after upload, manifest, verify; during drop

		var data, meta int64
		for o := range e.Bucket.Client(b).ListObjects(context.Background(), e.Bucket.Name, minio.ListObjectsOptions{Prefix: "audit_events/", Recursive: true}) {
			require.NoError(b, o.Err)
			if o.Key == format.PartKey(day, 1) {
				data += o.Size
			} else {
				meta += o.Size
			}
		}
		b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(data)/rows, "B/event")
		b.ReportMetric(float64(data+meta)/rows, "B/event_with_manifest")
		b.ReportMetric(marks[0].Sub(start).Seconds(), "write_upload_s")
		b.ReportMetric(marks[2].Sub(marks[1]).Seconds(), "verify_s")
		b.ReportMetric(time.Since(marks[2]).Seconds(), "drop_s")
		b.ReportMetric(us(use.busy, rows), "cpu_us/row")
		b.Logf("%d rows archived in %s (%.0f rows/s): %d B of Parquet (%.1f B/event), %d B of manifest, signature and key",
			rows, elapsed.Round(time.Millisecond), rows/elapsed.Seconds(), data, float64(data)/rows, meta)
		b.Logf("machine CPU per row on %d CPUs: %s", runtime.NumCPU(), use.split(rows, "compactor", ""))
	}
}
