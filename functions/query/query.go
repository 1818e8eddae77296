// Package query is the auditors' API (SPEC §8): GET /api/v1/audit/events,
// /api/v1/audit/aggregations and /api/v1/audit/verify, behind a bearer
// token. Every request is authenticated before anything else is read.
package query

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"function/archive"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/httpjson"
	"function/shared/pgdb"
	"function/shared/problem"
)

// SettingTokensFile names the local bearer-token file.
const SettingTokensFile = "AUDITFN_QUERY_TOKENS_FILE"

// Function is the query API.
type Function struct {
	log      *slog.Logger
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	state    atomic.Pointer[running]
	now      func() time.Time
}

type running struct {
	pool *pgxpool.Pool
	auth authenticator
	cold *archive.Reader // nil without an archive bucket
}

// New returns the function; Start connects it.
func New() *Function {
	f := &Function{
		log:      slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "query"),
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_query_requests_total", Help: "Query API requests by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		now: time.Now,
	}
	f.registry.MustRegister(f.requests)
	return f
}

// Registry holds the function's metrics.
func (f *Function) Registry() *prometheus.Registry { return f.registry }

// Start connects to PostgreSQL and loads the authenticator.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	dsn, err := c.Required(config.PGDSN)
	if err != nil {
		return err
	}
	var auth authenticator
	if c[SettingAuth] == "kubernetes" {
		auth, err = inClusterAuth()
	} else {
		var path string
		if path, err = c.Required(SettingTokensFile); err == nil {
			auth, err = loadTokenFile(path)
		}
	}
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	st := &running{pool: pool, auth: auth}
	if archive.ReaderConfigured(c) {
		if st.cold, err = archive.NewReader(ctx, pool, c); err != nil {
			pool.Close()
			return err
		}
	}
	f.state.Store(st)
	return nil
}

// Stop closes the pool.
func (f *Function) Stop(context.Context) error {
	if r := f.state.Swap(nil); r != nil {
		r.pool.Close()
	}
	return nil
}

// Ready is true once Start has connected.
func (f *Function) Ready(context.Context) (bool, error) { return f.state.Load() != nil, nil }

// Alive is true while the process serves.
func (f *Function) Alive(context.Context) (bool, error) { return true, nil }

// Handle authenticates, then serves the three endpoints.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	st := f.state.Load()
	if st == nil {
		problem.Write(w, http.StatusServiceUnavailable, "function is starting")
		return
	}
	endpoint := r.URL.Path
	status := f.serve(w, r, st)
	f.requests.WithLabelValues(endpoint, http.StatusText(status)).Inc()
}

func (f *Function) serve(w http.ResponseWriter, r *http.Request, st *running) int {
	who, err := st.auth.authenticate(r.Context(), bearer(r))
	switch {
	case errors.Is(err, errUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="auditfn"`)
		problem.Write(w, http.StatusUnauthorized, err.Error())
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		problem.Write(w, http.StatusForbidden, err.Error())
		return http.StatusForbidden
	case err != nil:
		f.log.Error("authenticate", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot check credentials now")
		return http.StatusServiceUnavailable
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		problem.Write(w, http.StatusMethodNotAllowed, "the audit API is read-only")
		return http.StatusMethodNotAllowed
	}
	f.log.Info("audit query", "auditor", who, "path", r.URL.Path, "query", r.URL.RawQuery)
	switch r.URL.Path {
	case "/api/v1/audit/events":
		return f.events(w, r, st)
	case "/api/v1/audit/aggregations":
		return f.aggregations(w, r, st)
	case "/api/v1/audit/verify":
		return f.verify(w, r, st)
	}
	problem.Write(w, http.StatusNotFound, "no such audit endpoint")
	return http.StatusNotFound
}

// event is one event as the API answers it.
type event struct {
	ID            string        `json:"id"`
	Source        string        `json:"source"`
	Type          string        `json:"type"`
	Time          time.Time     `json:"time"`
	Subject       string        `json:"subject"`
	CorrelationID string        `json:"correlationId"`
	Category      string        `json:"category"`
	Action        string        `json:"action"`
	Outcome       string        `json:"outcome"`
	ActorType     string        `json:"actorType"`
	ActorID       string        `json:"actorId"`
	TraceParent   string        `json:"traceparent,omitempty"`
	ReceivedAt    time.Time     `json:"receivedAt"`
	Data          rawJSON       `json:"data"`
	Integrity     integrityInfo `json:"integrity"`
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

type integrityInfo struct {
	LedgerSeq int64  `json:"ledgerSeq"`
	LedgerPos int32  `json:"ledgerPos"`
	EventHash string `json:"eventHash"`
}

func toEvent(r *auditevent.Record) event {
	return event{
		ID: r.ID.String(), Source: r.Source, Type: r.Type, Time: r.Time, Subject: r.Subject,
		CorrelationID: r.CorrelationID, Category: r.Category, Action: r.Action, Outcome: r.Outcome,
		ActorType: r.ActorType, ActorID: r.ActorID, TraceParent: r.TraceParent, ReceivedAt: r.ReceivedAt,
		Data:      rawJSON(r.Data),
		Integrity: integrityInfo{LedgerSeq: r.LedgerSeq, LedgerPos: r.LedgerPos, EventHash: hex.EncodeToString(r.Hash)},
	}
}

func (f *Function) events(w http.ResponseWriter, r *http.Request, st *running) int {
	q, errs := parseEvents(r.URL.Query(), f.now())
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	recs, err := st.search(r.Context(), q.filter, q.page)
	if err != nil {
		f.log.Error("search", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot read the audit trail now")
		return http.StatusServiceUnavailable
	}
	out := struct {
		Events     []event `json:"events"`
		NextCursor *string `json:"nextCursor"`
	}{Events: make([]event, len(recs))}
	for i := range recs {
		out.Events[i] = toEvent(&recs[i])
	}
	if len(recs) == q.page.Limit {
		last := recs[len(recs)-1]
		c := encodeCursor(cursor{Time: last.Time, ID: last.ID, Desc: q.page.Desc, Filter: filterDigest(r.URL.Query())})
		out.NextCursor = &c
	}
	httpjson.Write(w, http.StatusOK, out)
	return http.StatusOK
}

func (f *Function) aggregations(w http.ResponseWriter, r *http.Request, st *running) int {
	filter, errs := parseFilter(r.URL.Query(), f.now())
	by := auditstore.GroupBy(r.URL.Query().Get("group_by"))
	if _, ok := auditstore.GroupColumns[by]; !ok {
		errs = append(errs, problem.FieldError{Field: "group_by", Message: "must be one of event_type, workflow_id, event_outcome, day, actor_id"})
	}
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	counts, err := st.count(r.Context(), filter, by)
	if err != nil {
		f.log.Error("count", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot read the audit trail now")
		return http.StatusServiceUnavailable
	}
	type group struct {
		Key   string `json:"key"`
		Count int64  `json:"count"`
	}
	out := struct {
		GroupBy string  `json:"groupBy"`
		Total   int64   `json:"total"`
		Groups  []group `json:"groups"`
	}{GroupBy: string(by), Groups: []group{}}
	for k, n := range counts {
		out.Groups = append(out.Groups, group{k, n})
		out.Total += n
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Key < out.Groups[j].Key })
	httpjson.Write(w, http.StatusOK, out)
	return http.StatusOK
}

// search is one page over both tiers: the hot table and, for days whose
// hot rows were archived and dropped, the archive. Each tier yields its
// first page in order; the merge keeps the first Limit.
func (st *running) search(ctx context.Context, f auditstore.Filter, p auditstore.Page) ([]auditevent.Record, error) {
	recs, err := auditstore.Search(ctx, st.pool, f, p)
	if err != nil || st.cold == nil {
		return recs, err
	}
	cold, err := st.cold.Search(ctx, f, p)
	if err != nil {
		return nil, err
	}
	recs = append(recs, cold...)
	slices.SortFunc(recs, func(a, b auditevent.Record) int { return p.Compare(auditstore.KeyOf(&a), auditstore.KeyOf(&b)) })
	return recs[:min(len(recs), p.Limit)], nil
}

// count adds up both tiers.
func (st *running) count(ctx context.Context, f auditstore.Filter, by auditstore.GroupBy) (map[string]int64, error) {
	counts, err := auditstore.Count(ctx, st.pool, f, by)
	if err != nil || st.cold == nil {
		return counts, err
	}
	cold, err := st.cold.Count(ctx, f, by)
	for k, n := range cold {
		counts[k] += n
	}
	return counts, err
}

func (f *Function) verify(w http.ResponseWriter, r *http.Request, st *running) int {
	scope, errs := parseScope(r.URL.Query())
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	var archived auditstore.Archived
	if st.cold != nil {
		archived = st.cold
	}
	findings, checked, err := auditstore.Verify(r.Context(), st.pool, scope, archived)
	if err == nil && st.cold != nil {
		// Whatever the scope, a truncated or rewritten head is reported.
		var head []auditstore.Finding
		head, err = st.cold.CheckHead(r.Context())
		findings = append(findings, head...)
	}
	if err != nil {
		f.log.Error("verify", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot verify now")
		return http.StatusServiceUnavailable
	}
	if findings == nil {
		findings = []auditstore.Finding{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"ok": len(findings) == 0, "eventsChecked": checked, "findings": findings,
	})
	return http.StatusOK
}
