// Package collector is the audit sink function: it receives CloudEvents in
// binary, structured and batch mode, validates them and answers 2xx only once
// they are committed to PostgreSQL, exactly once per (source, id). A Knative
// PingSource event makes it run an archive compaction (compact.go).
package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"function/archive"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/eventauth"
	"function/shared/lifecycle"
	"function/shared/pgdb"
	"function/shared/problem"
)

// MaxRequestBytes bounds one request body: a batch of events, each of which
// is at most auditevent.MaxEventBytes.
const MaxRequestBytes = 16 << 20

// Tuning settings.
const (
	SettingMaxBatch = "AUDITFN_COLLECTOR_MAX_BATCH" // events per group commit, default 5000
	// SettingCheckpointEvery is how often the tree is brought up to the
	// ledger and, if it grew, a checkpoint signed and published.
	SettingCheckpointEvery = "AUDITFN_CHECKPOINT_INTERVAL" // default 5s
)

// Function is the collector.
type Function struct {
	*lifecycle.State[running]
	events *prometheus.CounterVec
	// compactions counts archive runs by result: done, skipped or failed.
	compactions *prometheus.CounterVec
	// commitSeconds and commitEvents observe each group commit.
	commitSeconds, commitEvents prometheus.Histogram
	// witnessPushes counts checkpoint pushes to witnesses by witness and
	// result: cosigned, refused or failed.
	witnessPushes *prometheus.CounterVec
	// treeSteps and treeLeaves follow the tree's publisher.
	treeSteps  *prometheus.CounterVec
	treeLeaves prometheus.Gauge
}

// running is what Start sets up and Stop tears down.
type running struct {
	pool   *pgxpool.Pool
	writer *auditstore.Writer
	cancel context.CancelFunc
	// compactor archives cold days on a ping; nil when the archive is not
	// configured (see compact.go).
	compactor *archive.Compactor
	// published is closed when the tree publisher has made its last step
	// (at once when there is none).
	published chan struct{}
	// keys authenticate senders; nil accepts unsigned events (a warning at
	// start says so).
	keys *eventauth.Keys
}

// New returns the collector; Start connects it.
func New() *Function {
	f := &Function{
		State: lifecycle.New[running]("collector"),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_collector_events_total",
			Help: "Audit events received, by result: stored, duplicate, rejected (invalid) or unauthenticated (bad or missing signature: alert on it).",
		}, []string{"result"}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_collector_compactions_total",
			Help: "Archive compaction runs triggered by pings, by result: done, skipped or failed.",
		}, []string{"result"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auditfn_collector_commit_seconds",
			Help:    "Time of each group commit, begin to commit: requests wait for it, one at a time across replicas.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. 4 s
		}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auditfn_collector_commit_events",
			Help:    "Events stored by each group commit (duplicates not counted).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		treeSteps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_collector_tree_steps_total",
			Help: "Steps of the tree's publisher (integrate, sign, publish), by result: ok or failed (alert: new events go unanchored while it fails).",
		}, []string{"result"}),
		treeLeaves: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditfn_collector_tree_leaves",
			Help: "Leaves in the Merkle tree after the publisher's last good step.",
		}),
		witnessPushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_collector_witness_pushes_total",
			Help: "Tree checkpoints pushed to witnesses, by witness and result: cosigned, refused (alert: a refusal can be a fork) or failed (unreachable).",
		}, []string{"witness", "result"}),
	}
	f.Registry().MustRegister(f.events, f.compactions, f.commitSeconds, f.commitEvents, f.witnessPushes, f.treeSteps, f.treeLeaves)
	return f
}

// Start connects to PostgreSQL and starts the group-commit writer.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	dsn, err := c.Required(config.PGDSN)
	if err != nil {
		return err
	}
	maxBatch, err := c.Int(SettingMaxBatch, 5000)
	if err != nil {
		return err
	}
	keys, err := eventauth.FromConfig(c)
	if err != nil {
		return err
	}
	if keys == nil {
		f.Log.Warn("sender authentication is off: unsigned audit events are accepted; set " + eventauth.Setting)
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	comp, err := f.newCompactor(ctx, c, pool)
	if err != nil {
		pool.Close()
		return err
	}
	w, err := auditstore.NewWriter(ctx, pool, auditstore.Options{MaxBatch: maxBatch, Logger: f.Log,
		OnCommit: func(stored int, took time.Duration) {
			f.commitEvents.Observe(float64(stored))
			f.commitSeconds.Observe(took.Seconds())
		}})
	if err != nil {
		pool.Close()
		return err
	}
	pub, err := f.newPublisher(c, comp)
	if err != nil {
		w.Close()
		pool.Close()
		return err
	}
	every, err := c.Duration(SettingCheckpointEvery, 5*time.Second)
	if err != nil {
		w.Close()
		pool.Close()
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	go w.MaintainPartitions(bg, time.Hour)
	published := make(chan struct{})
	go func() {
		defer close(published)
		if pub != nil {
			pub.Run(bg, every)
		}
	}()
	f.Store(&running{pool: pool, writer: w, cancel: cancel, compactor: comp, keys: keys, published: published})
	f.Log.Info("collector ready")
	return nil
}

// Stop finishes the writes in flight and closes the pool.
func (f *Function) Stop(context.Context) error {
	r := f.Swap(nil)
	if r == nil {
		return nil
	}
	r.writer.Close()
	r.cancel()
	<-r.published
	r.pool.Close()
	return nil
}

// Handle receives CloudEvents on POST /.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		problem.Write(w, http.StatusNotFound, "the collector receives CloudEvents on POST /")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, http.StatusMethodNotAllowed, "the collector receives CloudEvents on POST /")
		return
	}
	st := f.Load()
	if st == nil {
		problem.Write(w, http.StatusServiceUnavailable, "collector is starting")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	raw, batch, errs, status := parse(r)
	if status == http.StatusOK && !batch && raw[0].Type() == PingType {
		f.compact(w, r, st)
		return
	}
	var events []auditevent.Event
	if status == http.StatusOK {
		events, errs, status = validate(raw, batch)
	}
	if status == http.StatusOK && st.keys != nil {
		errs, status = authenticate(st.keys, events, batch)
		if status != http.StatusOK {
			f.Log.Warn("audit events with a bad signature refused", "remote", r.RemoteAddr, "problems", errs)
		}
	}
	if status != http.StatusOK {
		result := "rejected"
		if status == http.StatusForbidden {
			result = "unauthenticated"
		}
		f.events.WithLabelValues(result).Add(float64(max(len(events), 1)))
		problem.Write(w, status, "no event of this request was stored", errs...)
		return
	}
	res, err := st.writer.Write(r.Context(), events)
	if err != nil {
		f.Log.Error("store events", "events", len(events), "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "events not stored, retry")
		return
	}
	f.events.WithLabelValues("stored").Add(float64(res.Stored))
	f.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	// No body: the Broker's filter turns a 2xx whose body is not a
	// CloudEvent into a 502, which its channel retries and finally
	// dead-letters. The counts are in the metrics above.
	w.WriteHeader(http.StatusOK)
}

// parse reads the CloudEvents of the request: one, or a batch.
func parse(r *http.Request) ([]cloudevents.Event, bool, []problem.FieldError, int) {
	var (
		raw   []cloudevents.Event
		err   error
		batch = cehttp.IsHTTPBatch(r.Header)
	)
	if batch {
		var bad *problem.FieldError
		if raw, bad, err = readBatch(r); bad != nil {
			return nil, batch, []problem.FieldError{*bad}, http.StatusBadRequest
		}
	} else {
		var bad *problem.FieldError
		if bad, err = badText(r); bad != nil {
			return nil, batch, []problem.FieldError{*bad}, http.StatusBadRequest
		}
		var e *cloudevents.Event
		if err == nil {
			if e, err = cehttp.NewEventFromHTTPRequest(r); err == nil {
				raw = []cloudevents.Event{*e}
			}
		}
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, batch, nil, http.StatusRequestEntityTooLarge
		}
		return nil, batch, []problem.FieldError{{Field: "body", Message: "not a CloudEvent: " + err.Error()}}, http.StatusBadRequest
	}
	if len(raw) == 0 {
		return nil, batch, []problem.FieldError{{Field: "body", Message: "batch holds no events"}}, http.StatusBadRequest
	}
	return raw, batch, nil, http.StatusOK
}

// validate turns every CloudEvent into an audit event. Any problem fails
// the whole request.
func validate(raw []cloudevents.Event, batch bool) ([]auditevent.Event, []problem.FieldError, int) {
	now := time.Now()
	events := make([]auditevent.Event, 0, len(raw))
	var errs []problem.FieldError
	for i, e := range raw {
		ev, err := auditevent.FromCloudEvent(e, now)
		var verr *auditevent.ValidationError
		if errors.As(err, &verr) {
			for _, fe := range verr.Errors {
				errs = append(errs, problem.FieldError{Field: fieldName(batch, i, fe.Field), Message: fe.Message})
			}
			continue
		}
		events = append(events, ev)
	}
	if len(errs) > 0 {
		return events, errs, http.StatusBadRequest
	}
	return events, nil, http.StatusOK
}

// authenticate checks every event's signature; one bad signature refuses
// the whole request (403: a sender without a valid key will not do better by
// retrying).
func authenticate(keys *eventauth.Keys, events []auditevent.Event, batch bool) ([]problem.FieldError, int) {
	var errs []problem.FieldError
	for i := range events {
		if err := keys.Verify(&events[i]); err != nil {
			errs = append(errs, problem.FieldError{Field: fieldName(batch, i, auditevent.ExtSignature), Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs, http.StatusForbidden
	}
	return nil, http.StatusOK
}

// fieldName prefixes a field with its event's index in a batch.
func fieldName(batch bool, i int, field string) string {
	if !batch {
		return field
	}
	return fmt.Sprintf("events[%d].%s", i, strings.TrimPrefix(field, "."))
}
