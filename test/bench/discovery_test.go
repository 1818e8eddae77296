package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"function/functions/workflows"
	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/test/procs"
	"function/test/testenv"
)

// BenchmarkDiscovery measures step 2 on a generated 1,000-workflow catalog:
// handler latency with auditing on (events to a real collector) and off, in
// the same run, then through HTTP to a real process, and the time from
// process start to ready (first snapshot loaded).
func BenchmarkDiscovery(b *testing.B) {
	const requests, starts = 5000, 15
	for range b.N {
		db := testenv.NewDB(b)
		ctx := context.Background()
		c, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: catalog.Generate(1000, 42)}})
		require.NoError(b, err)
		conn, err := pgx.Connect(ctx, db.AdminDSN)
		require.NoError(b, err)
		require.NoError(b, catalogstore.Save(ctx, conn, c.ActionTypes(), c.Workflows()))
		conn.Close(ctx)

		col := procs.Start(b, procs.Binary(b, "./cmd/auditfn"), procs.FreeAddr(b), map[string]string{
			"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": db.AppDSN})
		cfg := map[string]string{"AUDITFN_PG_DSN": db.AppDSN, "K_SINK": col.URL()}

		// The busiest action type with a filter its workflows commonly match.
		action, query := busiest(c)
		path := workflows.Prefix + action + "?" + query.Encode()

		// Off first, so no audit backlog of the "on" run is still being
		// shipped and stored while "off" is measured.
		fn := workflows.New()
		require.NoError(b, fn.Start(ctx, cfg))
		emit := fn.Base.AuditSink()
		fn.SetAuditSink(func(auditevent.Event) {})
		off := handlerLatencies(fn, path, requests)
		fn.SetAuditSink(emit)
		on := handlerLatencies(fn, path, requests)
		require.NoError(b, fn.Stop(ctx))

		// A single start is at the mercy of whatever else the machine does
		// at that moment: start several, one after another, and keep the
		// last one serving.
		var ready []time.Duration
		var proc *procs.Proc
		for i := range starts {
			start := time.Now()
			proc = procs.Start(b, procs.Binary(b, "./cmd/auditfn"), procs.FreeAddr(b), map[string]string{
				"AUDITFN_FUNCTION": "workflows", "AUDITFN_PG_DSN": db.AppDSN, "K_SINK": col.URL()})
			ready = append(ready, time.Since(start))
			if i < starts-1 {
				proc.Term()
				require.NoError(b, proc.Wait(10*time.Second))
			}
		}
		overHTTP := httpLatencies(b, proc.URL()+path, requests)

		b.ReportMetric(ms(pct(on, 50)), "audit_on_p50_ms")
		b.ReportMetric(ms(pct(on, 99)), "audit_on_p99_ms")
		b.ReportMetric(ms(pct(off, 50)), "audit_off_p50_ms")
		b.ReportMetric(ms(pct(off, 99)), "audit_off_p99_ms")
		b.ReportMetric(ms(pct(on, 99)-pct(off, 99)), "audit_added_p99_ms")
		b.ReportMetric(ms(pct(overHTTP, 50)), "http_p50_ms")
		b.ReportMetric(ms(pct(overHTTP, 99)), "http_p99_ms")
		b.ReportMetric(ms(pct(ready, 50)), "start_to_ready_p50_ms")
		b.ReportMetric(ms(slices.Max(ready)), "start_to_ready_max_ms")
		b.Logf("step 2 on %d workflows (%s: %d listed): handler p50/p99 audit on %s/%s, off %s/%s; over HTTP p50/p99 %s/%s; process start to ready, %d starts: median %s, max %s (readiness polled every 5 ms)",
			len(c.Workflows()), action, total(c, action, query), pct(on, 50), pct(on, 99), pct(off, 50), pct(off, 99),
			pct(overHTTP, 50), pct(overHTTP, 99), starts, pct(ready, 50).Round(time.Millisecond), slices.Max(ready).Round(time.Millisecond))
	}
}

func busiest(c *catalog.Catalog) (string, url.Values) {
	q := url.Values{"severity": {"critical"}, "component": {"apps/v1/Deployment"}, "environment": {"production"},
		"priority": {"P0"}, "remediationId": {"rr-bench"}, "limit": {"10"}}
	best, n := "", -1
	for _, a := range c.ActionTypes() {
		if t := total(c, a.Name, q); t > n {
			best, n = a.Name, t
		}
	}
	return best, q
}

func total(c *catalog.Catalog, action string, q url.Values) int {
	_, n := c.ListWorkflows(action, catalog.Filter{Severity: q.Get("severity"), Component: q.Get("component"),
		Environment: q.Get("environment"), Priority: q.Get("priority")}, 0, 0)
	return n
}

func handlerLatencies(fn *workflows.Function, path string, n int) []time.Duration {
	lat := make([]time.Duration, n)
	for i := range lat {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		fn.Handle(rec, req)
		lat[i] = time.Since(t0)
		if rec.Code != http.StatusOK {
			panic(fmt.Sprintf("step 2 answered %d: %s", rec.Code, rec.Body))
		}
	}
	return lat
}

func httpLatencies(b *testing.B, u string, n int) []time.Duration {
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := time.Now()
		resp, err := http.Get(u)
		require.NoError(b, err)
		resp.Body.Close()
		lat[i] = time.Since(t0)
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	return lat
}

func pct(l []time.Duration, p int) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
