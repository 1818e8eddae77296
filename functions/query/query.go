// Package query is the auditors' API (SPEC §8): GET /api/v1/audit/events,
// /api/v1/audit/aggregations and /api/v1/audit/verify, the evidence a
// third party checks (docs/integrity.md §7–§8): /api/v1/audit/proof and
// /api/v1/audit/export, and legal holds (/api/v1/audit/legal-holds,
// docs/archive.md), behind a bearer token. Every request is authenticated before anything else is read.
package query

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"function/archive"
	"function/shared/auditevent"
	"function/shared/auditlog"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/emitter"
	"function/shared/httpjson"
	"function/shared/kubeapi"
	"function/shared/lifecycle"
	"function/shared/pgdb"
	"function/shared/problem"
	"function/shared/verify"
)

// SettingTokensFile names the local bearer-token file.
const SettingTokensFile = "AUDITFN_QUERY_TOKENS_FILE"

// Function is the query API.
type Function struct {
	*lifecycle.State[running]
	requests *prometheus.CounterVec
	now      func() time.Time
}

type running struct {
	pool  *pgxpool.Pool
	auth  authenticator
	log   *auditlog.Log
	holds *archive.Holds
	emit  *emitter.Emitter // nil without K_SINK: legal holds cannot change
}

// New returns the function; Start connects it.
func New() *Function {
	f := &Function{
		State: lifecycle.New[running]("query"),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_query_requests_total", Help: `Query API requests by endpoint (its path, or "other") and HTTP status code.`,
		}, []string{"endpoint", "code"}),
		now: time.Now,
	}
	f.Registry().MustRegister(f.requests)
	return f
}

// Start connects to PostgreSQL and loads the authenticator.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	dsn, err := c.Required(config.PGDSN)
	if err != nil {
		return err
	}
	var auth authenticator
	if c[SettingAuth] == "kubernetes" {
		auth, err = clusterAuth(c)
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
	log, err := auditlog.Open(ctx, pool, c)
	if err != nil {
		pool.Close()
		return err
	}
	st := &running{pool: pool, auth: auth, log: log, holds: log.Holds()}
	if c[config.Sink] != "" {
		if st.emit, err = emitter.FromConfig(c, f.Registry(), f.Log); err != nil {
			pool.Close()
			return err
		}
		if err := f.emitUnlogged(ctx, st); err != nil {
			f.Log.Error("emit legal hold events", "err", err)
		}
	}
	f.Store(st)
	return nil
}

// Stop flushes the legal hold events still buffered and closes the pool.
func (f *Function) Stop(ctx context.Context) error {
	r := f.Swap(nil)
	if r == nil {
		return nil
	}
	defer r.pool.Close()
	if r.emit != nil {
		return r.emit.Close(ctx)
	}
	return nil
}

// handler serves one method of one endpoint.
type handler func(*Function, http.ResponseWriter, *http.Request, *running) int

// endpoints are the paths served, with their methods; a path ending in "/"
// is a prefix, its rest a path parameter. The metrics name a request by one
// of them or "other": the path comes before authentication, so any caller
// could otherwise make label values without end.
var endpoints = map[string]map[string]handler{
	"/api/v1/audit/events":       {http.MethodGet: (*Function).events},
	"/api/v1/audit/aggregations": {http.MethodGet: (*Function).aggregations},
	"/api/v1/audit/verify":       {http.MethodGet: (*Function).verify},
	"/api/v1/audit/proof":        {http.MethodGet: (*Function).proof},
	"/api/v1/audit/export":       {http.MethodGet: (*Function).export},
	legalHoldsPath:               {http.MethodGet: (*Function).listHolds, http.MethodPost: (*Function).placeHold},
	legalHoldsPath + "/":         {http.MethodDelete: (*Function).releaseHold},
}

// endpoint is the endpoint of path, or "".
func endpoint(path string) string {
	if _, ok := endpoints[path]; ok {
		return path
	}
	for p := range endpoints {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return p
		}
	}
	return ""
}

// Handle authenticates, then serves the endpoints.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	st := f.Load()
	if st == nil {
		problem.Write(w, http.StatusServiceUnavailable, "function is starting")
		return
	}
	label := endpoint(r.URL.Path)
	status := f.serve(w, r, st, label)
	if label == "" {
		label = "other"
	}
	f.requests.WithLabelValues(label, lifecycle.Code(status)).Inc()
}

func (f *Function) serve(w http.ResponseWriter, r *http.Request, st *running, path string) int {
	who, err := st.auth.authenticate(r.Context(), kubeapi.Bearer(r))
	switch {
	case errors.Is(err, errUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="auditfn"`)
		problem.Write(w, http.StatusUnauthorized, err.Error())
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		problem.Write(w, http.StatusForbidden, err.Error())
		return http.StatusForbidden
	case err != nil:
		f.Log.Error("authenticate", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot check credentials now")
		return http.StatusServiceUnavailable
	}
	methods, ok := endpoints[path]
	if !ok {
		problem.Write(w, http.StatusNotFound, "no such audit endpoint")
		return http.StatusNotFound
	}
	serve, ok := methods[r.Method]
	if !ok {
		allow := slices.Sorted(maps.Keys(methods))
		w.Header().Set("Allow", strings.Join(allow, ", "))
		problem.Write(w, http.StatusMethodNotAllowed, "this audit endpoint answers "+strings.Join(allow, ", "))
		return http.StatusMethodNotAllowed
	}
	f.Log.Info("audit query", "auditor", who, "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery)
	return serve(f, w, r.WithContext(withCaller(r.Context(), who)), st)
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
	recs, err := st.log.Search(r.Context(), q.filter, q.page)
	if err != nil {
		f.Log.Error("search", "err", err)
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
	counts, err := st.log.Count(r.Context(), filter, by)
	if err != nil {
		f.Log.Error("count", "err", err)
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

func (f *Function) verify(w http.ResponseWriter, r *http.Request, st *running) int {
	scope, errs := parseScope(r.URL.Query())
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	rep, err := st.log.Verify(r.Context(), scope)
	if err != nil {
		f.Log.Error("verify", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot verify now")
		return http.StatusServiceUnavailable
	}
	httpjson.Write(w, http.StatusOK, struct {
		OK bool `json:"ok"`
		verify.Report
	}{rep.OK(), rep})
	return http.StatusOK
}
