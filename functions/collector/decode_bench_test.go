package collector

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"function/shared/auditevent"
	"function/test/fixtures"
)

// BenchmarkDecodeBatch is the collector's CPU cost per 500-event batch
// request before storage: CloudEvents decoding and validation.
func BenchmarkDecodeBatch(b *testing.B) {
	var events []auditevent.Event
	for i := range 100 {
		events = append(events, fixtures.Flow("rr-bench-"+string(rune('a'+i%26)), time.Now())...)
	}
	req, err := auditevent.HTTPRequest(b.Context(), "http://x/", events)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	fn := New()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header = req.Header.Clone()
		if _, errs, status := fn.decode(r); status != 200 {
			b.Fatal(status, errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
