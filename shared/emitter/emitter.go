// Package emitter sends audit events to the collector (K_SINK) without ever
// delaying the request that produced them: Emit only appends to a bounded
// buffer; a background sender batches, retries with exponential backoff and
// is flushed by the function's Stop so scale-to-zero loses nothing it could
// send. When the buffer is full the oldest event is dropped and counted.
package emitter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"function/shared/auditevent"
	"function/shared/eventauth"
)

// Mode is how events travel to the sink.
type Mode string

const (
	// Batch sends application/cloudevents-batch+json, falling back to
	// Single for good when the sink refuses a batch whose events it accepts
	// one by one (a Knative Broker does not take batches).
	Batch Mode = "batch"
	// Single sends each event in binary mode.
	Single Mode = "single"
)

// Options configure an Emitter. Zero values take the defaults.
type Options struct {
	Sink        string        // K_SINK; required
	Mode        Mode          // default Batch
	BufferSize  int           // events held before the oldest is dropped; default 10000
	BatchSize   int           // events per send; default 500
	Parallel    int           // concurrent sends in Single mode; default 16
	BaseBackoff time.Duration // first retry delay; default 100ms
	MaxBackoff  time.Duration // retry delay cap; default 5s
	Timeout     time.Duration // per HTTP request; default 10s
	// Keys sign every event (shared/eventauth); nil sends them unsigned,
	// which a collector holding keys refuses.
	Keys       *eventauth.Keys
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Emitter is the async sender. Emit is safe for concurrent use.
type Emitter struct {
	opts   Options
	client *http.Client
	single atomic.Bool

	mu      sync.Mutex
	buf     *ring
	closing bool
	aborted int // events in flight when Close gave up
	wake    chan struct{}
	done    chan struct{}

	// sendCtx ends when Close gives up, aborting retries in flight.
	sendCtx   context.Context
	abortSend context.CancelFunc

	sent, retried, dropped prometheus.Counter
	failed                 *prometheus.CounterVec
	depth                  prometheus.Gauge
}

// New starts an emitter.
func New(opts Options) (*Emitter, error) {
	if opts.Sink == "" {
		return nil, errors.New("missing required setting K_SINK (where audit events are sent)")
	}
	if opts.Mode == "" {
		opts.Mode = Batch
	}
	if opts.Mode != Batch && opts.Mode != Single {
		return nil, fmt.Errorf("emitter mode %q: must be batch or single", opts.Mode)
	}
	setDefault(&opts.BufferSize, 10000)
	setDefault(&opts.BatchSize, 500)
	setDefault(&opts.Parallel, 16)
	setDefault(&opts.BaseBackoff, 100*time.Millisecond)
	setDefault(&opts.MaxBackoff, 5*time.Second)
	setDefault(&opts.Timeout, 10*time.Second)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Emitter{
		opts:   opts,
		client: &http.Client{Timeout: opts.Timeout},
		buf:    newRing(opts.BufferSize),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditfn_emitter_sent_total", Help: "Audit events the sink acknowledged."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditfn_emitter_retried_total", Help: "Send attempts retried after a transport error or retriable status."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditfn_emitter_dropped_total", Help: "Oldest buffered audit events dropped because the buffer was full."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_emitter_failed_total", Help: "Audit events given up: rejected by the sink, or unsent when Close's deadline passed."},
			[]string{"reason"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditfn_emitter_buffer_depth", Help: "Audit events waiting in the buffer."}),
	}
	e.single.Store(opts.Mode == Single)
	e.sendCtx, e.abortSend = context.WithCancel(context.Background())
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.sent, e.retried, e.dropped, e.failed, e.depth} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	go e.run()
	return e, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Emit queues ev for sending and returns at once. After Close it drops ev.
func (e *Emitter) Emit(ev auditevent.Event) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		e.failed.WithLabelValues("closed").Inc()
		return
	}
	dropped := e.buf.push(ev)
	e.depth.Set(float64(e.buf.len()))
	e.mu.Unlock()
	if dropped {
		e.dropped.Inc()
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting events and sends what is buffered, retrying until
// everything is delivered or ctx ends. It reports how many events it could
// not send.
func (e *Emitter) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
	}
	e.abortSend()
	<-e.done
	e.mu.Lock()
	lost := e.buf.len() + e.aborted
	e.buf.take(e.buf.len())
	e.depth.Set(0)
	e.mu.Unlock()
	e.failed.WithLabelValues("shutdown").Add(float64(lost))
	if lost > 0 {
		return fmt.Errorf("emitter closed with %d audit events unsent: %w", lost, ctx.Err())
	}
	return nil
}

// run is the sender: it takes batches off the buffer and delivers them until
// the emitter is closing and the buffer is empty, or Close gives up.
func (e *Emitter) run() {
	defer close(e.done)
	for e.sendCtx.Err() == nil {
		e.mu.Lock()
		batch := e.buf.take(e.opts.BatchSize)
		e.depth.Set(float64(e.buf.len()))
		closing := e.closing
		e.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			select {
			case <-e.wake:
			case <-e.sendCtx.Done():
			}
			continue
		}
		if unsent := e.deliver(batch); len(unsent) > 0 {
			// Only an aborted Close leaves events unsent; it counts them.
			e.mu.Lock()
			e.aborted += len(unsent)
			e.mu.Unlock()
		}
	}
}

// deliver sends events until each is acknowledged or rejected, returning
// those left when sending was aborted.
func (e *Emitter) deliver(events []auditevent.Event) []auditevent.Event {
	if e.opts.Keys != nil {
		for i := range events { // here, not in Emit: off the caller's request path
			e.opts.Keys.Sign(&events[i])
		}
	}
	if !e.single.Load() && len(events) > 1 {
		status, err := e.sendRetrying(events)
		switch {
		case err != nil:
			return events
		case status < 300:
			e.sent.Add(float64(len(events)))
			return nil
		}
		// The sink refused the batch: send one by one so good events land
		// and a bad one is reported alone.
		e.opts.Logger.Warn("sink refused a batch; sending its events one by one", "status", status, "events", len(events))
		if unsent, accepted := e.deliverSingly(events); len(unsent) > 0 || accepted < len(events) {
			return unsent
		}
		e.opts.Logger.Warn("sink takes single events but not batches; switching to single mode", "sink", e.opts.Sink)
		e.single.Store(true)
		return nil
	}
	unsent, _ := e.deliverSingly(events)
	return unsent
}

// deliverSingly sends each event on its own, Parallel at a time, returning
// the events left unsent by an abort and how many the sink accepted.
func (e *Emitter) deliverSingly(events []auditevent.Event) ([]auditevent.Event, int) {
	var (
		mu       sync.Mutex
		unsent   []auditevent.Event
		accepted int
		g        errgroup.Group
	)
	g.SetLimit(e.opts.Parallel)
	for _, ev := range events {
		g.Go(func() error {
			status, err := e.sendRetrying([]auditevent.Event{ev})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				unsent = append(unsent, ev)
			case status < 300:
				accepted++
				e.sent.Inc()
			default:
				e.failed.WithLabelValues("rejected").Inc()
				e.opts.Logger.Error("sink rejected an audit event", "id", ev.ID, "type", ev.Type, "status", status)
			}
			return nil
		})
	}
	_ = g.Wait()
	return unsent, accepted
}

// sendRetrying sends until the sink answers with a final status (2xx or a
// non-retriable 4xx), retrying transport errors and retriable statuses with
// capped exponential backoff. It returns an error only when aborted.
func (e *Emitter) sendRetrying(events []auditevent.Event) (int, error) {
	backoff := e.opts.BaseBackoff
	for {
		status, err := e.send(events)
		if err == nil && !retriable(status) {
			return status, nil
		}
		e.retried.Inc()
		if err != nil {
			e.opts.Logger.Debug("send audit events", "events", len(events), "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-e.sendCtx.Done():
			t.Stop()
			return 0, e.sendCtx.Err()
		}
		backoff = min(2*backoff, e.opts.MaxBackoff)
	}
}

// send makes one HTTP request: binary mode for one event, batch mode for more.
func (e *Emitter) send(events []auditevent.Event) (int, error) {
	req, err := auditevent.HTTPRequest(e.sendCtx, e.opts.Sink, events)
	if err != nil {
		return 0, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// retriable are the statuses a Knative dispatcher also retries, plus every 5xx.
func retriable(status int) bool {
	switch status {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}
