package emitter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"function/shared/auditevent"
	"function/shared/emitter"
	"function/test/fixtures"
)

// BenchmarkEmit is the cost Emit adds to a request, with parallel callers
// and a sink that acknowledges everything.
func BenchmarkEmit(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	e, err := emitter.New(emitter.Options{Sink: srv.URL, BufferSize: 100000})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(b.Context())
	ev := fixtures.Event(auditevent.TypeWorkflowsListed, "rr", time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Emit(ev)
		}
	})
}
