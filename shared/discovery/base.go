package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/shared/config"
	"function/shared/emitter"
	"function/shared/kubeapi"
	"function/shared/lifecycle"
	"function/shared/problem"
)

// Caller is the actor recorded on discovery events when callers are not
// authenticated (SettingAuth unset, as in `make run`): the HolmesGPT API
// service, the only caller of discovery (BR-AUDIT-022).
var Caller = auditevent.Actor{Type: "service", ID: "holmesgpt-api"}

// SettingAuth set to "kubernetes" makes every discovery request carry a
// bearer token the cluster's API server accepts (a TokenReview, remembered
// a minute per token); the identity it names, such as
// system:serviceaccount:kubernaut-system:holmesgpt-api, is the audited
// actor. Without one a request is answered 401 and audited nowhere.
const SettingAuth = "AUDITFN_DISCOVERY_AUTH"

// Base is the lifecycle every discovery function shares: the catalog
// snapshot kept current from PostgreSQL, the audit emitter and metrics.
// A function embeds it and adds Handle. It is ready once Start has loaded
// the first snapshot.
type Base struct {
	*lifecycle.State[running]
	name     string
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

type running struct {
	catalog *catalogstore.Snapshots
	emitter *emitter.Emitter
	audit   func(auditevent.Event)
	callers *kubeapi.Tokens // nil: callers are not authenticated
}

// NewBase prepares the shared parts of function name.
func NewBase(name string) *Base {
	b := &Base{
		State: lifecycle.New[running](name),
		name:  name,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_discovery_requests_total", Help: "Discovery requests by HTTP status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditfn_discovery_duration_seconds", Help: "Time to answer a discovery request.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
	}
	b.Registry().MustRegister(b.requests, b.duration)
	return b
}

// Start connects to PostgreSQL, loads the first catalog snapshot and starts
// the emitter.
func (b *Base) Start(ctx context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	dsn, err := c.Required(config.PGDSN)
	if err != nil {
		return err
	}
	if _, err := c.Required(config.Sink); err != nil {
		return err
	}
	var callers *kubeapi.Tokens
	switch c[SettingAuth] {
	case "":
	case "kubernetes":
		api, err := kubeapi.FromSettings(c)
		if err != nil {
			return fmt.Errorf("%s=kubernetes: %w", SettingAuth, err)
		}
		callers = kubeapi.NewTokens(api, nil)
	default:
		return fmt.Errorf("setting %s=%q: must be kubernetes or unset", SettingAuth, c[SettingAuth])
	}
	pgcfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("%s: %w", config.PGDSN, err)
	}
	snaps, err := catalogstore.Watch(ctx, pgcfg, b.Log)
	if err != nil {
		return err
	}
	em, err := emitter.FromConfig(c, b.Registry(), b.Log)
	if err != nil {
		snaps.Close()
		return err
	}
	b.Store(&running{catalog: snaps, emitter: em, audit: em.Emit, callers: callers})
	return nil
}

// AuditSink is where audit events go (the emitter, after Start).
func (b *Base) AuditSink() func(auditevent.Event) {
	if r := b.Load(); r != nil {
		return r.audit
	}
	return nil
}

// SetAuditSink replaces where audit events go after Start. Benchmarks use it
// to measure what auditing costs a request; nothing else should.
func (b *Base) SetAuditSink(sink func(auditevent.Event)) {
	if r := b.Load(); r != nil {
		next := *r
		next.audit = sink
		b.Store(&next)
	}
}

// Stop flushes buffered audit events, then disconnects.
func (b *Base) Stop(ctx context.Context) error {
	r := b.Swap(nil)
	if r == nil {
		return nil
	}
	err := r.emitter.Close(ctx)
	r.catalog.Close()
	return err
}

// Catalog is the current snapshot, or nil before Start has finished.
func (b *Base) Catalog() *catalog.Catalog {
	if r := b.Load(); r != nil {
		return r.catalog.Current()
	}
	return nil
}

var traceParentRE = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// Audit emits the event of an answered request, with caller (from Accept)
// as its actor; it never blocks or fails the request.
func (b *Base) Audit(r *http.Request, caller auditevent.Actor, p auditevent.Payload) {
	ev, err := auditevent.New(b.name, p, caller, time.Now())
	if err != nil {
		b.Log.Error("build audit event", "type", p.EventType(), "err", err)
		return
	}
	if tp := r.Header.Get("traceparent"); traceParentRE.MatchString(tp) {
		ev.TraceParent = tp
	}
	if st := b.Load(); st != nil {
		st.audit(ev)
	}
}

// Observe records a request's answer in the metrics.
func (b *Base) Observe(status int, start time.Time) {
	b.requests.WithLabelValues(lifecycle.Code(status)).Inc()
	b.duration.Observe(time.Since(start).Seconds())
}

// Refuse answers a 400 naming every bad field; a refused request emits no
// audit event.
func (b *Base) Refuse(w http.ResponseWriter, start time.Time, errs []problem.FieldError) {
	problem.Write(w, http.StatusBadRequest, "invalid request", errs...)
	b.Observe(http.StatusBadRequest, start)
}

// Since is milliseconds elapsed, for queryDurationMs.
func Since(start time.Time) float64 { return float64(time.Since(start).Microseconds()) / 1000 }

// NotFound is the one 404 of steps 3 and validate, byte for byte the same for
// an unknown id and a workflow the security gate refuses: it must not tell
// whether the workflow exists.
func NotFound(w http.ResponseWriter) {
	problem.Write(w, http.StatusNotFound, "no such workflow")
}

// Accept is how every discovery handler begins: pathOK says whether the
// path is the function's, methods are those it serves, usage says both for
// the error. It answers 404, 405, 503 (still starting, or the API server
// cannot check the caller now) or 401 (an unauthenticated caller) itself
// and returns nil then; otherwise the catalog snapshot to serve from and
// the caller to audit.
func (b *Base) Accept(w http.ResponseWriter, r *http.Request, pathOK bool, usage string, methods ...string) (*catalog.Catalog, auditevent.Actor) {
	switch {
	case !pathOK:
		problem.Write(w, http.StatusNotFound, "this function serves "+usage)
		return nil, auditevent.Actor{}
	case !slices.Contains(methods, r.Method):
		w.Header().Set("Allow", strings.Join(methods, ", "))
		problem.Write(w, http.StatusMethodNotAllowed, "this function serves "+usage)
		return nil, auditevent.Actor{}
	}
	st := b.Load()
	if st == nil {
		problem.Write(w, http.StatusServiceUnavailable, "function is starting")
		return nil, auditevent.Actor{}
	}
	caller, err := b.caller(r, st)
	switch {
	case errors.Is(err, kubeapi.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="auditfn"`)
		problem.Write(w, http.StatusUnauthorized, err.Error())
		return nil, auditevent.Actor{}
	case err != nil:
		b.Log.Error("authenticate caller", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot check credentials now")
		return nil, auditevent.Actor{}
	}
	return st.catalog.Current(), caller
}

// caller is who sent r: the identity its bearer token names, or Caller when
// callers are not authenticated.
func (b *Base) caller(r *http.Request, st *running) (auditevent.Actor, error) {
	if st.callers == nil {
		return Caller, nil
	}
	u, err := st.callers.Review(r.Context(), kubeapi.Bearer(r))
	if err != nil {
		return auditevent.Actor{}, err
	}
	kind := "user"
	if strings.HasPrefix(u.Username, "system:serviceaccount:") {
		kind = "service"
	}
	return auditevent.Actor{Type: kind, ID: u.Username}, nil
}

// Pagination is the answered pagination block.
func Pagination(offset, limit, total int) auditevent.Pagination {
	return auditevent.Pagination{Offset: offset, Limit: limit, TotalCount: total, HasMore: offset+limit < total}
}

// SchemaVersion is Data Storage's schemaVersion of a kubernaut.ai/v1alpha1
// workflow document.
const SchemaVersion = "1.0"

// Owner is the owner and maintainer of a workflow as answered and audited:
// the name and email of its first maintainer, or "" for both.
func Owner(wf *catalog.Workflow) (owner, maintainer string) {
	if len(wf.Maintainers) == 0 {
		return "", ""
	}
	return wf.Maintainers[0].Name, wf.Maintainers[0].Email
}
