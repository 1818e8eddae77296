package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"function/archive"
	"function/archive/archivetest"
	"function/functions/query"
	"function/shared/auditevent"
	"function/shared/auditlog"
	"function/shared/auditstore"
	"function/shared/verify"
	"function/test/loadgen"
	"function/test/procs"
)

const benchToken = "bench-token-0123456789abcdef"

// BenchmarkQuery measures the auditors' API: hot correlation-id queries on
// 1M rows, cold ones over 30 archived days, verification speed, and the time
// from a collector's ack to the event being visible.
func BenchmarkQuery(b *testing.B) {
	const (
		hotRows     = 1_000_000
		coldDays    = 30
		coldPerDay  = 5_000
		queries     = 500
		coldQueries = 10
		visibleRuns = 100
	)
	for range b.N {
		e := archivetest.New(b)
		ctx := context.Background()
		// Cold first (older days), then 1M hot rows over the last 5 days.
		var coldIDs []string
		for d := coldDays + 8; d > 8; d-- {
			evs := e.Seed(b, archivetest.DaysAgo(d), coldPerDay)
			coldIDs = append(coldIDs, evs[len(evs)/2].CorrelationID)
		}
		var hotIDs []string
		for d := 5; d >= 1; d-- {
			evs := e.Seed(b, archivetest.DaysAgo(d), hotRows/5)
			for i := 10; i < len(evs)-10; i += len(evs) / (queries / 5) {
				hotIDs = append(hotIDs, evs[i].CorrelationID)
			}
		}
		pool := e.Pool

		// Auditors verify settled data: let vacuum and statistics catch up
		// with the bulk load first, as autovacuum would have.
		_, err := pool.Exec(ctx, "VACUUM ANALYZE audit.audit_events")
		require.NoError(b, err)
		t0 := time.Now()
		hotRep, err := verify.Live(pool, nil, nil).Verify(ctx, verify.Scope{})
		verifyRate := float64(hotRep.EventsChecked) / time.Since(t0).Seconds()
		require.NoError(b, err)
		require.Empty(b, hotRep.Findings)
		checked := hotRep.EventsChecked
		rawRate := rawReadRate(b, pool)

		tree := benchTree(b, e)

		rep, err := e.Compactor(b, archive.Options{}).Run(ctx)
		require.NoError(b, err)
		require.Len(b, rep.Days, coldDays)
		coldVerifyRate := verifyArchivedDays(b, e, coldDays)

		tokens := filepath.Join(b.TempDir(), "tokens")
		require.NoError(b, os.WriteFile(tokens, []byte(benchToken+" bench\n"), 0o600))
		settings := e.Bucket.Settings()
		settings["AUDITFN_PG_DSN"] = e.DB.AppDSN
		settings["AUDITFN_QUERY_TOKENS_FILE"] = tokens
		f := query.New()
		require.NoError(b, f.Start(ctx, settings))
		srv := httptest.NewServer(http.HandlerFunc(f.Handle))
		hot := timeQueries(b, srv.URL, hotIDs[:min(queries, len(hotIDs))], url.Values{"since": {"6d"}}, 5)
		cold := timeQueries(b, srv.URL, coldIDs[:coldQueries], url.Values{"since": {"60d"}}, 5)

		// Ack to visible: a real collector process, single events.
		col := procs.Start(b, procs.Binary(b, "./cmd/auditfn"), procs.FreeAddr(b), map[string]string{
			"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": e.DB.AppDSN})
		var visible []time.Duration
		seq := 0
		for range visibleRuns {
			ev := loadgen.Batch(1, &seq)[0]
			req, err := auditevent.HTTPRequest(ctx, col.URL(), []auditevent.Event{ev})
			require.NoError(b, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(b, err)
			resp.Body.Close()
			acked := time.Now()
			for !found(b, srv.URL, ev.CorrelationID) {
				time.Sleep(time.Millisecond)
			}
			visible = append(visible, time.Since(acked))
		}
		srv.Close()
		_ = f.Stop(ctx)

		b.ReportMetric(ms(pct(hot, 50)), "hot_p50_ms")
		b.ReportMetric(ms(pct(hot, 99)), "hot_p99_ms")
		b.ReportMetric(ms(pct(cold, 50)), "cold_p50_ms")
		b.ReportMetric(ms(pct(cold, 99)), "cold_max_ms")
		b.ReportMetric(ms(pct(visible, 99)), "ack_to_visible_p99_ms")
		b.ReportMetric(verifyRate, "verify_events/s")
		b.ReportMetric(rawRate, "raw_read_rows/s")
		b.ReportMetric(coldVerifyRate, "verify_archived_events/s")
		tree.report(b)
		b.Logf("hot: %d correlation-id queries on %d rows p50/p99 %s/%s; cold over %d archived days: p50/max %s/%s; ack→visible p99 %s; verification %.0f events/s (PostgreSQL streaming the same rows to a client doing nothing with them: %.0f rows/s); archived days verified at %.0f events/s",
			len(hot), checked, pct(hot, 50), pct(hot, 99), coldDays, pct(cold, 50), pct(cold, 99), pct(visible, 99), verifyRate, rawRate, coldVerifyRate)
	}
}

// verifyArchivedDays verifies each archived day on its own (its events come
// from Parquet in MinIO, not PostgreSQL) and returns events/s over all.
func verifyArchivedDays(b *testing.B, e *archivetest.Env, days int) float64 {
	ctx := context.Background()
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(b, err)
	checked := 0
	t0 := time.Now()
	for d := days + 8; d > 8; d-- {
		rep, err := log.Verify(ctx, verify.Scope{Date: archivetest.DaysAgo(d)})
		require.NoError(b, err)
		require.Empty(b, rep.Findings)
		checked += rep.EventsChecked
	}
	return float64(checked) / time.Since(t0).Seconds()
}

// rawReadRate is how fast PostgreSQL alone hands over the rows verification
// reads: the same columns, one connection per CPU over ledger ranges as
// verification splits them, and nothing done with the rows. Rendering
// event_data (jsonb) as text is most of it, and no reader can beat it.
func rawReadRate(b *testing.B, pool *pgxpool.Pool) float64 {
	ctx := context.Background()
	var lo, hi, n int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT min(ledger_seq), max(ledger_seq), count(*) FROM audit.audit_events").Scan(&lo, &hi, &n))
	workers := int64(runtime.GOMAXPROCS(0))
	t0 := time.Now()
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			rows, err := pool.Query(ctx, "SELECT "+strings.Join(auditstore.Columns, ", ")+
				" FROM audit.audit_events WHERE ledger_seq >= $1 AND ledger_seq < $2",
				lo+w*(hi-lo+1)/workers, lo+(w+1)*(hi-lo+1)/workers)
			if err != nil {
				return err
			}
			for rows.Next() {
				_ = rows.RawValues()
			}
			return rows.Err()
		})
	}
	require.NoError(b, g.Wait())
	return float64(n) / time.Since(t0).Seconds()
}

// timeQueries times one events query per correlation id, expecting want events.
func timeQueries(b *testing.B, base string, ids []string, extra url.Values, want int) []time.Duration {
	lat := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		q := url.Values{"correlation_id": {id}}
		for k, v := range extra {
			q[k] = v
		}
		t0 := time.Now()
		n := count(b, base, q)
		lat = append(lat, time.Since(t0))
		require.Equal(b, want, n, "events of %s", id)
	}
	return lat
}

// found asks the hot window only: without a time range a query also reads
// the whole archive (it has no correlation-id pruning yet).
func found(b *testing.B, base, id string) bool {
	return count(b, base, url.Values{"correlation_id": {id}, "since": {"1h"}}) > 0
}

func count(b *testing.B, base string, q url.Values) int {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/audit/events?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(b, http.StatusOK, resp.StatusCode, string(body))
	var page struct{ Events []json.RawMessage }
	require.NoError(b, json.Unmarshal(body, &page), fmt.Sprint(len(body)))
	return len(page.Events)
}
