package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"function/infra/catalog"
	"function/shared/auditevent"
	catalogpkg "function/shared/catalog"
	"function/shared/problem"
	"function/shared/routes"
	"function/test/fixtures"
	"function/test/procs"
	"function/test/testenv"
)

// hostile is a value the sweep sends in place of a good one.
type hostile struct {
	name  string
	value string // the bytes, where they travel as they are (URLs, headers)
	json  string // as a JSON string literal: NUL escaped, other bytes raw
	long  bool   // too long rather than bad text: sent only where a limit exists
}

var hostiles = func() []hostile {
	hs := []hostile{
		{name: "NUL", value: "rr\x00x"},
		{name: "invalid UTF-8", value: "rr\xffx"},
		{name: "overlong UTF-8 (a NUL in two bytes)", value: "rr\xc0\x80x"},
		{name: "UTF-8 of a UTF-16 surrogate", value: "rr\xed\xa0\x80x"},
		{name: "overlong value", value: strings.Repeat("r", 2000), long: true},
	}
	for i := range hs {
		hs[i].json = jsonLiteral(hs[i].value)
	}
	// Only JSON can carry it: PostgreSQL's jsonb refuses it too.
	return append(hs, hostile{name: "unpaired surrogate escape", json: `"rr\udc00x"`})
}()

// jsonLiteral quotes s for JSON without repairing it: invalid UTF-8 stays.
func jsonLiteral(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

const sweepToken = "sweep-token-0123456789abcdef"

// everything is every function as its own process over one database: the
// public routes behind the shared route table, the collector and the
// catalog sync at their own addresses.
type everything struct {
	db                             testenv.DB
	router, collector, catalogsync string
	procs                          map[string]*procs.Proc
	workflowID, actionType         string
	workflowsBefore, actionsBefore int64
}

func startEverything(t *testing.T) everything {
	t.Helper()
	db := testenv.NewDB(t)
	loadCatalog(t, db, catalog.FS)
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(sweepToken+" sweeper\n"), 0o600))
	bin := procs.Binary(t, "./cmd/auditfn")
	col := collector(t, db, procs.FreeAddr(t))
	env := map[string]map[string]string{
		"query":       {"AUDITFN_PG_DSN": db.AppDSN, "AUDITFN_QUERY_TOKENS_FILE": tokens},
		"blockclear":  {"K_SINK": col.URL()},
		"catalogsync": {"AUDITFN_PG_DSN": db.CatalogDSN(t)},
	}
	for _, fn := range []string{"actions", "workflows", "workflow", "validate"} {
		env[fn] = map[string]string{"AUDITFN_PG_DSN": db.AppDSN, "K_SINK": col.URL()}
	}
	e := everything{db: db, collector: col.URL(), procs: map[string]*procs.Proc{"collector": col}}
	addrs := map[string]string{}
	for fn, settings := range env {
		settings["AUDITFN_FUNCTION"] = fn
		p := procs.Start(t, bin, procs.FreeAddr(t), settings)
		e.procs[fn], addrs[fn] = p, p.Addr
	}
	e.catalogsync = e.procs["catalogsync"].URL()
	router := httptest.NewServer(routes.Proxy(addrs))
	t.Cleanup(router.Close)
	e.router = router.URL

	// A workflow step 3 and validate would answer 200 for: a refusal is
	// then the parser's, not the gate's.
	c, err := catalogpkg.LoadDir(catalog.FS)
	require.NoError(t, err)
	wf := c.Workflows()[0]
	e.workflowID, e.actionType = wf.WorkflowID.String(), wf.ActionType
	e.workflowsBefore, e.actionsBefore = db.Count(t, "catalog.workflows"), db.Count(t, "catalog.action_types")
	return e
}

// refused checks one answer: a 4xx (never a 5xx) with a JSON problem that
// names the field, or a field under it.
func refused(t *testing.T, what string, resp *http.Response, field string) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s: answered %d %s", what, resp.StatusCode, body) {
		return
	}
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), what)
	var p problem.Problem
	if !assert.NoError(t, json.Unmarshal(body, &p), "%s: %s", what, body) {
		return
	}
	for _, e := range p.Errors {
		if e.Field == field || strings.HasPrefix(e.Field, field+".") || strings.HasPrefix(e.Field, field+"[") {
			return
		}
	}
	assert.Fail(t, "the problem does not name the field", "%s: want %s in %s", what, field, body)
}

func (e everything) get(t *testing.T, path string, q url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.router+path+"?"+q.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sweepToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func post(t *testing.T, target, contentType string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// The hostile sweep: a NUL, invalid UTF-8 (raw, overlong, a surrogate) and
// an overlong value in every parameter, path segment, body field, CloudEvent
// attribute and document field of every endpoint. Each is refused with a 4xx
// naming the field, never a 5xx (PostgreSQL refuses such text: unchecked, it
// was a 503 and an ERROR, or an audit event lost); nothing of it is stored,
// and no function logs an error.
func TestHostileInputSweepOfEveryEndpoint(t *testing.T) {
	e := startEverything(t)
	t.Run("discovery", e.sweepDiscovery)
	t.Run("query", e.sweepQuery)
	t.Run("collector", e.sweepCollector)
	t.Run("blockclear", e.sweepBlockclear)
	t.Run("catalogsync", e.sweepCatalogsync)
	e.storedOnlyTheGoodRequests(t)
}

func (e everything) sweepDiscovery(t *testing.T) {
	base := with(signal, "remediationId", "rr-sweep")
	params := []string{"severity", "component", "environment", "priority", "cluster", "custom_labels", "detected_labels",
		"remediation_id", "remediationId"}
	paths := map[string]string{
		"step 1":   "/api/v1/workflows/actions",
		"step 2":   "/api/v1/workflows/actions/" + e.actionType,
		"step 3":   "/api/v1/workflows/" + e.workflowID,
		"validate": "/api/v1/workflows/" + e.workflowID + "/validate",
	}
	for step, path := range paths {
		for _, h := range hostiles {
			if h.value == "" {
				continue
			}
			for _, name := range params {
				field := name
				if name == "remediationId" && h.long {
					field = "remediation_id" // both spellings' length is one rule
				}
				refused(t, step+" "+name+" "+h.name, e.get(t, path, with(base, name, h.value)), field)
			}
		}
		// Inside the JSON parameters, as escapes too.
		for _, h := range hostiles {
			if h.long {
				continue
			}
			refused(t, step+" custom_labels value "+h.name,
				e.get(t, path, with(base, "custom_labels", `{"team":[`+h.json+`]}`)), "custom_labels")
			refused(t, step+" custom_labels key "+h.name,
				e.get(t, path, with(base, "custom_labels", `{`+h.json+`:["payments"]}`)), "custom_labels")
			refused(t, step+" detected_labels "+h.name,
				e.get(t, path, with(base, "detected_labels", `{"gitOpsTool":`+h.json+`}`)), "detected_labels")
		}
	}
	for _, h := range hostiles {
		if h.value == "" {
			continue
		}
		segment := url.PathEscape(h.value)
		refused(t, "step 2 action_type "+h.name, e.get(t, "/api/v1/workflows/actions/"+segment, base), "action_type")
		refused(t, "step 3 workflow_id "+h.name, e.get(t, "/api/v1/workflows/"+segment, base), "workflow_id")
		refused(t, "validate workflow_id "+h.name, e.get(t, "/api/v1/workflows/"+segment+"/validate", base), "workflow_id")
	}
	validate := e.router + "/api/v1/workflows/" + e.workflowID + "/validate?" + base.Encode()
	for _, h := range hostiles {
		name := `{"parameters":{` + h.json + `:"x"}}`
		refused(t, "validate body name "+h.name, post(t, validate, "application/json", []byte(name), nil), "parameters")
		if !h.long { // a long value is only a wrong one, answered as such
			value := `{"parameters":{"NAME":` + h.json + `}}`
			refused(t, "validate body value "+h.name, post(t, validate, "application/json", []byte(value), nil), "parameters")
		}
	}
}

func (e everything) sweepQuery(t *testing.T) {
	filters := []string{"correlation_id", "event_type", "event_category", "event_outcome", "workflow_id", "namespace",
		"actor_id", "since", "until"}
	endpoints := []struct {
		path   string
		base   url.Values
		params []string
	}{
		{"/api/v1/audit/events", url.Values{}, append(filters, "limit", "order", "cursor")},
		{"/api/v1/audit/aggregations", url.Values{"group_by": {"event_type"}}, append(filters, "group_by")},
		{"/api/v1/audit/verify", url.Values{}, []string{"correlation_id", "date"}},
		{"/api/v1/audit/proof", url.Values{"event_id": {uuid.NewString()}}, []string{"event_id", "source"}},
		{"/api/v1/audit/export", url.Values{}, append(filters, "redact")},
		{"/api/v1/audit/legal-holds", url.Values{}, []string{"correlation_id"}},
	}
	for _, ep := range endpoints {
		for _, name := range ep.params {
			for _, h := range hostiles {
				if h.value != "" {
					refused(t, ep.path+" "+name+" "+h.name, e.get(t, ep.path, with(ep.base, name, h.value)), name)
				}
			}
		}
	}
	// Placing and releasing legal holds: every body field, and the path's
	// correlation id.
	const holds = "/api/v1/audit/legal-holds"
	for _, h := range hostiles {
		for _, field := range []string{"correlation_id", "reason"} {
			body := map[string]string{"correlation_id": `"rr-sweep-hold"`, "reason": `"litigation"`}
			body[field] = h.json
			doc := `{"correlation_id":` + body["correlation_id"] + `,"reason":` + body["reason"] + `}`
			refused(t, "POST "+holds+" "+field+" "+h.name, e.send(t, http.MethodPost, holds, doc), field)
		}
		refused(t, "DELETE "+holds+" reason "+h.name, e.send(t, http.MethodDelete, holds+"/rr-sweep-hold", `{"reason":`+h.json+`}`), "reason")
		if h.value != "" {
			refused(t, "DELETE "+holds+" path "+h.name, e.send(t, http.MethodDelete, holds+"/"+url.PathEscape(h.value), `{"reason":"litigation"}`), "correlation_id")
		}
	}
}

// send is a request with a JSON body to the router, as the sweep's auditor.
func (e everything) send(t *testing.T, method, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.router+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sweepToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// sweepCollector sends an audit event with one attribute, or its data,
// hostile: structured mode (JSON can carry a NUL), binary mode (headers
// cannot: invalid UTF-8 only) and a batch whose other event is good.
func (e everything) sweepCollector(t *testing.T) {
	const mark = "HOSTILE-MARK"
	good := fixtures.Event(auditevent.TypeActionsListed, "rr-sweep", time.Now())
	structured := func(set func(ev *auditevent.Event)) []byte {
		ev := good
		set(&ev)
		b, err := auditevent.ToCloudEvent(ev).MarshalJSON()
		require.NoError(t, err)
		return b
	}
	attrs := map[string]func(ev *auditevent.Event){
		"id":            nil, // a uuid.UUID: its text is replaced in the JSON below
		"source":        func(ev *auditevent.Event) { ev.Source = mark },
		"subject":       func(ev *auditevent.Event) { ev.Subject = mark },
		"type":          func(ev *auditevent.Event) { ev.Type = mark },
		"correlationid": func(ev *auditevent.Event) { ev.CorrelationID = mark },
		"category":      func(ev *auditevent.Event) { ev.Category = mark },
		"action":        func(ev *auditevent.Event) { ev.Action = mark },
		"outcome":       func(ev *auditevent.Event) { ev.Outcome = mark },
		"actortype":     func(ev *auditevent.Event) { ev.ActorType = mark },
		"actorid":       func(ev *auditevent.Event) { ev.ActorID = mark },
		"traceparent":   func(ev *auditevent.Event) { ev.TraceParent = mark },
	}
	goodJSON := structured(func(*auditevent.Event) {})
	for attr, set := range attrs {
		doc := goodJSON
		if set != nil {
			doc = structured(set)
		}
		markLit := []byte(`"` + mark + `"`)
		if attr == "id" {
			markLit = []byte(`"` + good.ID.String() + `"`)
		}
		for _, h := range hostiles {
			if h.long && attr == "subject" {
				continue // no limit of its own: the event's size bounds it (below)
			}
			bad := bytes.Replace(doc, markLit, []byte(h.json), 1)
			refused(t, "collector structured "+attr+" "+h.name, post(t, e.collector, "application/cloudevents+json", bad, nil), attr)
			batch := []byte("[" + string(goodJSON) + "," + string(bad) + "]")
			refused(t, "collector batch "+attr+" "+h.name,
				post(t, e.collector, "application/cloudevents-batch+json", batch, nil), "events[1]."+attr)
			if h.value == "" || strings.ContainsRune(h.value, 0) {
				continue
			}
			headers := map[string]string{"ce-specversion": "1.0", "ce-id": good.ID.String(), "ce-source": good.Source,
				"ce-type": good.Type, "ce-time": good.Time.Format(time.RFC3339Nano), "ce-subject": good.Subject,
				"ce-correlationid": good.CorrelationID, "ce-category": good.Category, "ce-action": good.Action,
				"ce-outcome": good.Outcome, "ce-actortype": good.ActorType, "ce-actorid": good.ActorID}
			headers["ce-"+attr] = h.value
			refused(t, "collector binary "+attr+" "+h.name, post(t, e.collector, "application/json", good.Data, headers), attr)
		}
	}
	for _, h := range hostiles {
		if h.long {
			continue
		}
		bad := bytes.Replace(goodJSON, []byte(`"remediationId":"rr-sweep"`), []byte(`"remediationId":`+h.json), 1)
		require.NotEqual(t, goodJSON, bad)
		refused(t, "collector data value "+h.name, post(t, e.collector, "application/cloudevents+json", bad, nil), "data")
		bad = bytes.Replace(goodJSON, []byte(`"remediationId":`), []byte(h.json+`:1,"remediationId":`), 1)
		refused(t, "collector data key "+h.name, post(t, e.collector, "application/cloudevents+json", bad, nil), "data")
	}
	big := structured(func(ev *auditevent.Event) { ev.Subject = strings.Repeat("s", auditevent.MaxEventBytes) })
	refused(t, "collector oversized event", post(t, e.collector, "application/cloudevents+json", big, nil), "data")
}

// sweepBlockclear puts hostile text in each field a clearance is audited
// from. The webhook answers an AdmissionReview whatever the request; a
// refusal is a denial with a 4xx code and a message naming the field.
func (e everything) sweepBlockclear(t *testing.T) {
	const reason = "root cause fixed in PR 1234"
	fields := []struct{ field, context, value string }{ // where the value is in reviewBody's request
		{"request.object.status.blockClearance.clearReason", "", reason},
		{"request.object.metadata.name", "{\"name\":", "wfe-api-7f9c"}, // not the request's name
		{"request.object.spec.targetResource", "", "payments/Deployment/api"},
		{"request.object.spec.workflowRef.workflowId", "", "6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b"},
		{"request.object.spec.remediationRequestRef.name", "", "rr-payments-oom-1"},
		{"request.object.status.failureDetails.reason", "", "TaskFailed"},
		{"request.userInfo.username", "", "alice@example.com"},
		{"request.userInfo.uid", "", "u-4242"},
		{"request.userInfo.groups[0]", "", "sre"},
	}
	good := reviewBody(`{"clearReason":"` + reason + `"}`)
	for _, f := range fields {
		field := f.field
		for _, h := range hostiles {
			if h.long && !strings.HasSuffix(field, "clearReason") {
				continue
			}
			// The value stays a valid clearance but for the hostile part.
			lit := f.context + h.json[:len(h.json)-1] + f.value + `"`
			body := bytes.ReplaceAll(good, []byte(f.context+`"`+f.value+`"`), []byte(lit))
			require.NotEqual(t, good, body, field)
			resp := post(t, e.router+"/mutate-workflowexecution", "application/json", body, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			what := "webhook " + field + " " + h.name
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", what, b)
			var review admissionv1.AdmissionReview
			require.NoError(t, json.Unmarshal(b, &review), what)
			require.NotNil(t, review.Response, what)
			if !assert.False(t, review.Response.Allowed, "%s: allowed", what) {
				continue
			}
			assert.True(t, review.Response.Result.Code >= 400 && review.Response.Result.Code < 500, "%s: %+v", what, review.Response.Result)
			name := field
			if h.long {
				name = "clearReason" // the CRD's limit, named by its field
			}
			assert.Contains(t, review.Response.Result.Message, name, what)
		}
	}
}

// workflowDoc is a RemediationWorkflow as the API server sends it.
const workflowDoc = `{"apiVersion":"kubernaut.ai/v1alpha1","kind":"RemediationWorkflow",
 "metadata":{"name":"sweep-restart","namespace":"kubernaut","uid":"6f1d2c3b-0000-4000-8000-00000000sw01"},
 "spec":{"version":"1.0.0","description":{"what":"Deletes one pod.","whenToUse":"One pod is wedged."},
  "actionType":"RestartPod","labels":{"severity":["*"],"environment":["sweep-env"],"component":["v1/Pod"],"priority":"*"},
  "execution":{"engine":"job"},
  "parameters":[{"name":"POD_NAME","type":"string","required":true,"description":"The pod."}]}}`

const actionTypeDoc = `{"apiVersion":"kubernaut.ai/v1alpha1","kind":"ActionType",
 "metadata":{"name":"sweep-action","namespace":"kubernaut"},
 "spec":{"name":"SweepAction","description":{"what":"Sweeps.","whenToUse":"Never, it is a test."}}}`

func (e everything) sendDocument(t *testing.T, doc []byte) *http.Response {
	t.Helper()
	return post(t, e.catalogsync, "application/json", doc, map[string]string{
		"ce-specversion": "1.0", "ce-id": uuid.NewString(), "ce-source": "https://10.96.0.1:443",
		"ce-type": "dev.knative.apiserver.resource.add", "ce-subject": "/apis/kubernaut.ai/v1alpha1/namespaces/kubernaut/x"})
}

func (e everything) sweepCatalogsync(t *testing.T) {
	fields := []struct {
		doc, field, value string
		limited           bool
	}{
		{workflowDoc, "metadata.name", "sweep-restart", true},
		{workflowDoc, "spec.description.what", "Deletes one pod.", false},
		{workflowDoc, "spec.labels.environment[0]", "sweep-env", false},
		{workflowDoc, "spec.parameters[0].description", "The pod.", false},
		{actionTypeDoc, "spec.description.whenToUse", "Never, it is a test.", false},
	}
	for _, f := range fields {
		for _, h := range hostiles {
			if h.long && !f.limited {
				continue
			}
			doc := strings.Replace(f.doc, `"`+f.value+`"`, h.json, 1)
			require.NotEqual(t, f.doc, doc)
			refused(t, "catalogsync "+f.field+" "+h.name, e.sendDocument(t, []byte(doc)), "data."+f.field)
		}
	}
}

// storedOnlyTheGoodRequests sends one good request to each function (step
// 1 with offset and limit hostile: lenient by contract, SPEC §3) and waits
// for their events: once they are in, nothing else was stored.
func (e everything) storedOnlyTheGoodRequests(t *testing.T) {
	good := with(signal, "remediationId", "rr-sweep-good")
	lenient := with(good, "offset", "\x00", "limit", "\xff")
	for _, path := range []string{"/api/v1/workflows/actions?" + lenient.Encode(),
		"/api/v1/workflows/actions/" + e.actionType + "?" + good.Encode(),
		"/api/v1/workflows/" + e.workflowID + "?remediationId=rr-sweep-good",
		"/api/v1/workflows/" + e.workflowID + "/validate?remediationId=rr-sweep-good"} {
		status, body := get(t, e.router+path)
		require.Equal(t, http.StatusOK, status, "%s: %s", path, body)
	}
	ev := fixtures.Event(auditevent.TypeActionsListed, "rr-sweep-good", time.Now())
	doc, err := auditevent.ToCloudEvent(ev).MarshalJSON()
	require.NoError(t, err)
	resp := post(t, e.collector, "application/cloudevents+json", doc, nil)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = post(t, e.router+"/mutate-workflowexecution", "application/json",
		bytes.ReplaceAll(reviewBody(`{"clearReason":"root cause fixed in PR 1234"}`), []byte("rr-payments-oom-1"), []byte("rr-sweep-good")), nil)
	var review admissionv1.AdmissionReview
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&review))
	resp.Body.Close()
	require.True(t, review.Response.Allowed, review.Response.Result)
	// The clearance is audited once the cluster shows it persisted.
	var patch []struct {
		Value json.RawMessage `json:"value"`
	}
	require.NoError(t, json.Unmarshal(review.Response.Patch, &patch))
	persisted := bytes.ReplaceAll([]byte(sprintf(wfe, `,"blockClearance":`+string(patch[0].Value))), []byte("rr-payments-oom-1"), []byte("rr-sweep-good"))
	sendUpdate(t, e.procs["blockclear"].URL(), "apiserver-sweep", persisted)
	for _, doc := range []string{actionTypeDoc, workflowDoc} {
		resp := e.sendDocument(t, []byte(doc))
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "the sweep's documents are good but for the hostile part")
	}

	require.Eventually(t, func() bool { return e.db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-sweep-good'") == 6 },
		15*time.Second, 50*time.Millisecond, "four discovery events, the posted one and the clearance")
	assert.Equal(t, int64(6), e.db.Count(t, "audit.audit_events"), "nothing of the sweep was stored")
	assert.Zero(t, e.db.Count(t, "audit.legal_holds"), "no legal hold of the sweep was stored")
	assert.Equal(t, e.workflowsBefore+1, e.db.Count(t, "catalog.workflows"))
	assert.Equal(t, e.actionsBefore+1, e.db.Count(t, "catalog.action_types"))
	for name, p := range e.procs {
		if name == "catalogsync" {
			continue // logs each refused cluster document as an error, by design
		}
		assert.NotContains(t, p.Output(), `"level":"ERROR"`, "%s logged an error:\n%s", name, p.Output())
	}
}
