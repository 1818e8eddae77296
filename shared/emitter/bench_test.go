package emitter_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"function/shared/auditevent"
	"function/shared/emitter"
	"function/test/fixtures"
)

// BenchmarkEmit is the latency Emit adds to a request (p50/p99 of single
// calls) while the sender ships the events to a sink that acknowledges all.
func BenchmarkEmit(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	e, err := emitter.New(emitter.Options{Sink: srv.URL, BufferSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(b.Context())
	ev := fixtures.Event(auditevent.TypeWorkflowsListed, "rr", time.Now())
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		e.Emit(ev)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50_ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99_ns")
}
