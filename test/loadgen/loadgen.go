// Package loadgen drives the collector with concurrent senders that post
// fixture events over HTTP, retrying each request until it is acknowledged,
// and records which events were acknowledged and how long acks took.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"function/shared/auditevent"
	"function/test/fixtures"
)

// Options shape a run.
type Options struct {
	URL     string
	Senders int
	// Requests per sender.
	Requests int
	// BatchSize events per request; 1 sends binary-mode single events.
	BatchSize int
	// Retry is the pause before re-sending an unacknowledged request.
	Retry time.Duration
}

// Report is what a run saw.
type Report struct {
	Acked     []uuid.UUID     // every acknowledged event id
	Latencies []time.Duration // per acknowledged request, last attempt only
	Attempts  int             // HTTP attempts, including retries
	Elapsed   time.Duration
}

// Events is the number of acknowledged events.
func (r Report) Events() int { return len(r.Acked) }

// Rate is acknowledged events per second.
func (r Report) Rate() float64 { return float64(len(r.Acked)) / r.Elapsed.Seconds() }

// Percentile of request ack latency, p in 0..100.
func (r Report) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, int(p/100*float64(len(l))))]
}

// Batch makes n fixture events spread over a remediation's five types and
// over correlation ids.
func Batch(n int, seq *int) []auditevent.Event {
	types := fixtures.FlowTypes()
	out := make([]auditevent.Event, n)
	now := time.Now()
	for i := range out {
		*seq++
		out[i] = fixtures.Event(types[*seq%len(types)], fmt.Sprintf("rr-load-%d", *seq/len(types)), now)
	}
	return out
}

// request is one pre-encoded POST and the events it carries.
type request struct {
	header http.Header
	body   []byte
	ids    []uuid.UUID
}

// prepare encodes every request of a sender before the clock starts, so the
// run measures the collector, not event generation.
func prepare(o Options, sender int) ([]request, error) {
	seq := sender * 1_000_000
	out := make([]request, o.Requests)
	for i := range out {
		events := Batch(o.BatchSize, &seq)
		req, err := auditevent.HTTPRequest(context.Background(), o.URL, events)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		out[i] = request{header: req.Header, body: body, ids: make([]uuid.UUID, len(events))}
		for j, ev := range events {
			out[i].ids[j] = ev.ID
		}
	}
	return out, nil
}

// Run prepares a load and sends it.
func Run(ctx context.Context, o Options) (Report, error) {
	l, err := Prepare(o)
	if err != nil {
		return Report{}, err
	}
	return l.Send(ctx), nil
}

// Load is a prepared run: every request encoded, nothing sent.
type Load struct {
	o    Options
	work [][]request // per sender
}

// Prepare encodes every request of every sender.
func Prepare(o Options) (*Load, error) {
	o.Senders, o.Requests, o.BatchSize = max(o.Senders, 1), max(o.Requests, 1), max(o.BatchSize, 1)
	if o.Retry <= 0 {
		o.Retry = 50 * time.Millisecond
	}
	l := &Load{o: o, work: make([][]request, o.Senders)}
	for s := range l.work {
		var err error
		if l.work[s], err = prepare(o, s); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Send sends until every sender's requests are acknowledged or ctx ends.
func (l *Load) Send(ctx context.Context) Report {
	o := l.o
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Senders}}
	var (
		mu     sync.Mutex
		report Report
		wg     sync.WaitGroup
	)
	start := time.Now()
	for _, reqs := range l.work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range reqs {
				lat, attempts, ok := sendUntilAcked(ctx, client, o, r)
				mu.Lock()
				report.Attempts += attempts
				if ok {
					report.Latencies = append(report.Latencies, lat)
					report.Acked = append(report.Acked, r.ids...)
				}
				mu.Unlock()
				if !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	report.Elapsed = time.Since(start)
	return report
}

func sendUntilAcked(ctx context.Context, client *http.Client, o Options, r request) (time.Duration, int, bool) {
	for attempts := 1; ; attempts++ {
		t0 := time.Now()
		if status, err := send(ctx, client, o.URL, r); err == nil && status < 300 {
			return time.Since(t0), attempts, true
		}
		select {
		case <-ctx.Done():
			return 0, attempts, false
		case <-time.After(o.Retry):
		}
	}
}

func send(ctx context.Context, client *http.Client, url string, r request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	req.Header = r.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
