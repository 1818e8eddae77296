package emitter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/emitter"
	"function/test/fixtures"
)

// sink is a CloudEvents receiver that records event ids and can be told to
// fail, refuse batches or hang.
type sink struct {
	mu          sync.Mutex
	ids         []string
	requests    atomic.Int64
	failFirst   atomic.Int64 // answer 503 to this many requests
	refuseBatch bool         // answer 415 to batch requests
	reject      string       // answer 400 to this event id
	hold        chan struct{}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.hold != nil {
		<-s.hold
	}
	if s.failFirst.Add(-1) >= 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var events []cloudevents.Event
	if cehttp.IsHTTPBatch(r.Header) {
		if s.refuseBatch {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		var err error
		if events, err = cehttp.NewEventsFromHTTPRequest(r); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	} else {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		events = []cloudevents.Event{*e}
	}
	for _, e := range events {
		if e.ID() == s.reject {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	for _, e := range events {
		s.ids = append(s.ids, e.ID())
	}
	s.mu.Unlock()
}

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func start(t *testing.T, s *sink, opts emitter.Options) (*emitter.Emitter, *prometheus.Registry) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	opts.Sink = srv.URL
	opts.Registerer = reg
	opts.BaseBackoff = 5 * time.Millisecond
	opts.MaxBackoff = 20 * time.Millisecond
	e, err := emitter.New(opts)
	require.NoError(t, err)
	return e, reg
}

func events(n int) ([]auditevent.Event, []string) {
	evs := make([]auditevent.Event, n)
	ids := make([]string, n)
	for i := range evs {
		evs[i] = fixtures.Event(auditevent.TypeActionsListed, "rr", time.Now())
		ids[i] = evs[i].ID.String()
	}
	return evs, ids
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func TestDeliversEverythingInBatchesAndFlushesOnClose(t *testing.T) {
	s := &sink{}
	e, reg := start(t, s, emitter.Options{BatchSize: 50})
	evs, ids := events(1000)
	for _, ev := range evs {
		e.Emit(ev)
	}
	require.NoError(t, e.Close(context.Background()))
	assert.ElementsMatch(t, ids, s.received())
	assert.Less(t, s.requests.Load(), int64(1000), "events travel in batches")
	assert.Equal(t, 1000.0, metric(t, reg, "auditfn_emitter_sent_total"))
	assert.Equal(t, 0.0, metric(t, reg, "auditfn_emitter_buffer_depth"))
}

func TestRetriesWithTheSameEventIDs(t *testing.T) {
	s := &sink{}
	s.failFirst.Store(3)
	e, reg := start(t, s, emitter.Options{})
	evs, ids := events(10)
	for _, ev := range evs {
		e.Emit(ev)
	}
	require.NoError(t, e.Close(context.Background()))
	assert.ElementsMatch(t, ids, s.received())
	assert.GreaterOrEqual(t, metric(t, reg, "auditfn_emitter_retried_total"), 3.0)
}

func TestDropsOldestWhenBufferIsFull(t *testing.T) {
	s := &sink{hold: make(chan struct{})}
	e, reg := start(t, s, emitter.Options{BufferSize: 10, BatchSize: 5})
	first, _ := events(5)
	e.Emit(first[0])
	// Wait until the sender holds a batch of one in flight, then overfill.
	require.Eventually(t, func() bool { return s.requests.Load() == 1 }, 5*time.Second, time.Millisecond)
	evs, ids := events(15)
	for _, ev := range evs {
		e.Emit(ev)
	}
	assert.Equal(t, 5.0, metric(t, reg, "auditfn_emitter_dropped_total"))
	close(s.hold)
	require.NoError(t, e.Close(context.Background()))
	assert.ElementsMatch(t, append([]string{first[0].ID.String()}, ids[5:]...), s.received(), "the five oldest were dropped")
}

func TestFallsBackToSingleEventsWhenTheSinkRefusesBatches(t *testing.T) {
	s := &sink{refuseBatch: true}
	e, _ := start(t, s, emitter.Options{BatchSize: 20})
	evs, ids := events(60)
	for _, ev := range evs {
		e.Emit(ev)
	}
	require.NoError(t, e.Close(context.Background()))
	assert.ElementsMatch(t, ids, s.received())
}

func TestARejectedEventDoesNotHoldBackTheOthers(t *testing.T) {
	s := &sink{}
	evs, ids := events(10)
	s.reject = ids[3]
	e, reg := start(t, s, emitter.Options{})
	for _, ev := range evs {
		e.Emit(ev)
	}
	require.NoError(t, e.Close(context.Background()))
	assert.ElementsMatch(t, append(append([]string{}, ids[:3]...), ids[4:]...), s.received())
	assert.Equal(t, 1.0, metric(t, reg, "auditfn_emitter_failed_total"))
}

func TestCloseGivesUpAtItsDeadlineAndCountsTheLoss(t *testing.T) {
	s := &sink{}
	s.failFirst.Store(1 << 40)
	e, reg := start(t, s, emitter.Options{})
	evs, _ := events(7)
	for _, ev := range evs {
		e.Emit(ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := e.Close(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "7 audit events unsent")
	assert.Equal(t, 7.0, metric(t, reg, "auditfn_emitter_failed_total"))
}

func TestEmitNeverWaitsForTheSink(t *testing.T) {
	s := &sink{hold: make(chan struct{})}
	defer close(s.hold)
	e, _ := start(t, s, emitter.Options{BufferSize: 100})
	evs, _ := events(1000)
	done := make(chan struct{})
	go func() {
		for _, ev := range evs {
			e.Emit(ev)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked on a hung sink")
	}
}
