package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/infra/catalog"
	catalogpkg "function/shared/catalog"
)

// The JSON Schemas of testdata/kubernaut-discovery are written from
// kubernaut-compat §3 (Data Storage's discovery contract, which Kubernaut's
// ogen-generated clients decode): one file per answer type.
const (
	schemaActionTypeList      = "action-type-list"     // step 1, 200
	schemaWorkflowDiscovery   = "workflow-discovery"   // step 2, 200
	schemaRemediationWorkflow = "remediation-workflow" // step 3, 200
	schemaValidationResult    = "validation-result"    // validate, 200
	schemaProblem             = "problem"              // every error answer
	schemaDir                 = "testdata/kubernaut-discovery"
	workflowIDNamespace       = "6ba7b810-9dad-51d0-80b7-00c04fd430c8" // compat §1.1
)

// compatSchemas compiles the schemas with format assertions on, so a bad
// uuid, email, date-time or URI reference fails as ogen's decoder would.
func compatSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{schemaActionTypeList, schemaWorkflowDiscovery, schemaRemediationWorkflow,
		schemaValidationResult, schemaProblem} {
		path, err := filepath.Abs(filepath.Join(schemaDir, name+".schema.json"))
		require.NoError(t, err)
		sch, err := c.Compile(path)
		require.NoError(t, err, "schema %s", name)
		out[name] = sch
	}
	return out
}

// compatChecker sends discovery requests and checks every answer against
// the schema of its status, counting what it covered.
type compatChecker struct {
	t        *testing.T
	router   string
	schemas  map[string]*jsonschema.Schema
	covered  map[string]int // "schema status" → answers checked
	optional map[string]bool
}

type answer struct {
	status int
	body   []byte
	doc    map[string]any
}

// do sends one request and checks its answer: a 200 against want200, any
// other status against the problem schema with the problem media type.
func (c *compatChecker) do(method, path string, query url.Values, body string, wantStatus int, want200 string) answer {
	c.t.Helper()
	target := c.router + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	require.NoError(c.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(c.t, err)
	what := method + " " + path + "?" + query.Encode()
	require.Equal(c.t, wantStatus, resp.StatusCode, "%s: %s", what, b)

	schema, mediaType := want200, "application/json"
	if resp.StatusCode != http.StatusOK {
		schema, mediaType = schemaProblem, "application/problem+json"
	}
	ct := resp.Header.Get("Content-Type")
	assert.True(c.t, ct == mediaType || strings.HasPrefix(ct, mediaType+";"), "%s: Content-Type %q, want %s", what, ct, mediaType)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(c.t, err, "%s: not JSON: %s", what, b)
	if err := c.schemas[schema].Validate(inst); err != nil {
		c.t.Errorf("%s: %d answer does not match %s.schema.json:\n%#v\nbody: %s", what, resp.StatusCode, schema, err, b)
	}
	c.covered[fmt.Sprintf("%s %d", schema, resp.StatusCode)]++
	a := answer{status: resp.StatusCode, body: b}
	require.NoError(c.t, json.Unmarshal(b, &a.doc))
	if resp.StatusCode != http.StatusOK {
		assert.EqualValues(c.t, resp.StatusCode, a.doc["status"], "%s: problem status is the HTTP status", what)
	}
	return a
}

func (c *compatChecker) get(path string, q url.Values, wantStatus int, want200 string) answer {
	c.t.Helper()
	return c.do(http.MethodGet, path, q, "", wantStatus, want200)
}

// badRequest checks a 400 that names field in both of its field lists.
func (c *compatChecker) badRequest(method, path string, q url.Values, body, field string) {
	c.t.Helper()
	a := c.do(method, path, q, body, http.StatusBadRequest, "")
	var p struct {
		Errors      []struct{ Field string } `json:"errors"`
		FieldErrors map[string]string        `json:"field_errors"`
	}
	require.NoError(c.t, json.Unmarshal(a.body, &p))
	fields := []string{}
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	assert.Contains(c.t, fields, field, "%s %s?%s: errors", method, path, q.Encode())
	assert.Contains(c.t, p.FieldErrors, field, "%s %s?%s: field_errors", method, path, q.Encode())
	for k := range p.FieldErrors {
		assert.Contains(c.t, fields, k, "field_errors and errors name the same fields")
	}
}

// signalOf is a signal context that the workflow's labels match: the first
// concrete value of each label, a fixed one where the label is "*".
func signalOf(w *catalogpkg.Workflow, remediationID string) url.Values {
	first := func(list []string, fallback string) string {
		for _, v := range list {
			if v != "*" {
				return v
			}
		}
		return fallback
	}
	return url.Values{
		"severity":       {first(w.Labels.Severity, "critical")},
		"component":      {first(w.Labels.Component, "apps/v1/Deployment")},
		"environment":    {first(w.Labels.Environment, "production")},
		"priority":       {first([]string{w.Labels.Priority}, "P1")},
		"remediation_id": {remediationID},
	}
}

func with(q url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

// keys lists every object key in a decoded JSON value, at any depth.
func keys(v any, into *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			*into = append(*into, k)
			keys(e, into)
		}
	case []any:
		for _, e := range x {
			keys(e, into)
		}
	}
}

// Every 200, 400 and 404 answer of the four discovery functions, through the
// router over the sample catalog, matches the strict JSON Schemas written from
// Data Storage's discovery contract (kubernaut-compat §3).
func TestDiscoveryAnswersMatchKubernautSchemas(t *testing.T) {
	schemas := compatSchemas(t)
	s := startDiscovery(t)
	c := &compatChecker{t: t, router: s.router, schemas: schemas, covered: map[string]int{}, optional: map[string]bool{}}
	sample, err := catalogpkg.LoadDir(catalog.FS)
	require.NoError(t, err)

	const step1 = "/api/v1/workflows/actions"
	step2 := func(action string) string { return "/api/v1/workflows/actions/" + action }
	step3 := func(id string) string { return "/api/v1/workflows/" + id }
	validate := func(id string) string { return "/api/v1/workflows/" + id + "/validate" }

	// Steps 1 and 2 under a signal context matching each active workflow;
	// step 3 and validate for every workflow listed, with and without the
	// context as the security gate.
	listed := map[string]url.Values{} // workflow id → a context that lists it
	names := map[string]string{}      // workflow id → workflowName
	activeNames := map[string]bool{}
	for _, w := range sample.Workflows() {
		if w.Status != catalogpkg.StatusActive {
			continue
		}
		activeNames[w.WorkflowName] = true
		ctx := signalOf(&w, "rr-compat-"+w.WorkflowName)
		a := c.get(step1, ctx, http.StatusOK, schemaActionTypeList)
		var s1 struct {
			ActionTypes []struct{ ActionType string } `json:"actionTypes"`
		}
		require.NoError(t, json.Unmarshal(a.body, &s1))
		actions := []string{}
		for _, at := range s1.ActionTypes {
			actions = append(actions, at.ActionType)
		}
		require.Contains(t, actions, w.ActionType, "step 1 under %v", ctx)

		a = c.get(step2(w.ActionType), with(ctx, "limit", "100"), http.StatusOK, schemaWorkflowDiscovery)
		assert.Equal(t, w.ActionType, a.doc["actionType"])
		var all []string
		keys(a.doc, &all)
		for _, k := range all {
			assert.NotContains(t, strings.ToLower(k), "score", "step 2 answers no score: %s", a.body)
		}
		var s2 struct {
			Workflows []struct{ WorkflowID, WorkflowName string } `json:"workflows"`
		}
		require.NoError(t, json.Unmarshal(a.body, &s2))
		for _, e := range s2.Workflows {
			if _, ok := listed[e.WorkflowID]; !ok {
				listed[e.WorkflowID], names[e.WorkflowID] = ctx, e.WorkflowName
			}
		}
	}
	listedNames := map[string]bool{}
	for _, n := range names {
		listedNames[n] = true
	}
	assert.Equal(t, activeNames, listedNames, "step 2 lists every active workflow of the sample catalog")

	var standardID string
	for id, ctx := range listed {
		noGate := url.Values{"remediation_id": {"rr-compat-nogate"}}
		for _, q := range []url.Values{noGate, ctx} {
			a := c.get(step3(id), q, http.StatusOK, schemaRemediationWorkflow)
			checkStep3(t, id, a)
			c.get(validate(id), q, http.StatusOK, schemaValidationResult)
		}
		for k := range c.optionalFields(id, ctx) {
			c.optional[k] = true
		}
		if names[id] == "restart-pod-standard" {
			standardID = id
		}
		v := c.do(http.MethodPost, validate(id), ctx, `{"parameters":{"NO_SUCH_PARAMETER":1}}`, http.StatusOK, schemaValidationResult)
		assert.Equal(t, false, v.doc["valid"], "an undeclared parameter is invalid")
	}

	// restart-pod-standard sets the optional execution fields; some workflow
	// of the sample catalog carries customLabels and detectedLabels.
	require.NotEmpty(t, standardID, "restart-pod-standard is listed")
	standard := c.get(step3(standardID), nil, http.StatusOK, schemaRemediationWorkflow)
	for _, k := range []string{"engineConfig", "serviceAccountName", "executionBundleDigest", "executionBundle",
		"owner", "maintainer", "parameters"} {
		assert.Contains(t, standard.doc, k, "restart-pod-standard's step 3 answer")
	}
	for _, k := range []string{"detectedLabels", "customLabels", "engineConfig", "serviceAccountName",
		"executionBundleDigest", "maintainer", "owner"} {
		assert.True(t, c.optional[k], "some step 3 answer carries %s", k)
	}

	// Validate POST on restart-pod-standard: good and bad proposals.
	standardCtx := listed[standardID]
	v := c.do(http.MethodPost, validate(standardID), standardCtx,
		`{"parameters":{"TARGET_NAMESPACE":"shop","POD_NAME":"web-1","READY_TIMEOUT_SECONDS":60,"DELETE_MODE":"graceful"}}`,
		http.StatusOK, schemaValidationResult)
	assert.Equal(t, true, v.doc["valid"], "%s", v.body)
	v = c.do(http.MethodPost, validate(standardID), nil,
		`{"parameters":{"TARGET_NAMESPACE":"Not_A_Namespace","READY_TIMEOUT_SECONDS":5,"DELETE_MODE":"sideways"}}`,
		http.StatusOK, schemaValidationResult)
	assert.Equal(t, false, v.doc["valid"], "%s", v.body)
	assert.GreaterOrEqual(t, len(v.doc["errors"].([]any)), 4, "pattern, required, minimum, enum: %s", v.body)
	c.do(http.MethodPost, validate(standardID), nil, `{"parameters":{}}`, http.StatusOK, schemaValidationResult)

	// Step 1: filters beyond the four, and paging.
	broad := url.Values{"severity": {"critical"}, "component": {"apps/v1/Deployment"}, "environment": {"production"},
		"priority": {"P1"}, "remediation_id": {"rr-compat-paging"}}
	c.get(step1, with(broad, "custom_labels", `{"team":["payments"],"cost-center":["*"]}`), http.StatusOK, schemaActionTypeList)
	c.get(step1, with(broad, "detected_labels", `{"gitOpsManaged":true,"gitOpsTool":"argocd"}`), http.StatusOK, schemaActionTypeList)
	c.get(step1, with(broad, "cluster", "prod-eu-1"), http.StatusOK, schemaActionTypeList)
	c.get(step1, with(broad, "remediation_id", "", "remediationId", "rr-compat-camel"), http.StatusOK, schemaActionTypeList)
	whole := c.get(step1, with(broad, "limit", "100"), http.StatusOK, schemaActionTypeList)
	var all struct {
		ActionTypes []json.RawMessage `json:"actionTypes"`
		Pagination  struct {
			TotalCount, Offset, Limit int
			HasMore                   bool
		} `json:"pagination"`
	}
	require.NoError(t, json.Unmarshal(whole.body, &all))
	require.Greater(t, all.Pagination.TotalCount, 2, "enough action types to page through")
	assert.Len(t, all.ActionTypes, all.Pagination.TotalCount)
	var paged []json.RawMessage
	for offset := 0; ; offset += 2 {
		a := c.get(step1, with(broad, "limit", "2", "offset", fmt.Sprint(offset)), http.StatusOK, schemaActionTypeList)
		var page = all
		page.ActionTypes = nil
		require.NoError(t, json.Unmarshal(a.body, &page))
		assert.Equal(t, offset, page.Pagination.Offset)
		assert.Equal(t, 2, page.Pagination.Limit)
		assert.Equal(t, offset+2 < page.Pagination.TotalCount, page.Pagination.HasMore)
		paged = append(paged, page.ActionTypes...)
		if !page.Pagination.HasMore {
			break
		}
	}
	assert.Equal(t, all.ActionTypes, paged, "the pages make the whole list")
	past := c.get(step1, with(broad, "offset", "1000"), http.StatusOK, schemaActionTypeList)
	assert.Empty(t, past.doc["actionTypes"])
	for _, limit := range []string{"0", "-3", "1000", "ten"} {
		c.get(step1, with(broad, "limit", limit), http.StatusOK, schemaActionTypeList)
	}
	c.get(step1, with(broad, "offset", "-1"), http.StatusOK, schemaActionTypeList)

	// Step 2: several action types, paging, and an unknown one (empty list).
	for _, action := range []string{"ScaleReplicas", "RestartPod", "DrainNode", "IncreaseMemoryLimits"} {
		c.get(step2(action), broad, http.StatusOK, schemaWorkflowDiscovery)
		c.get(step2(action), with(broad, "limit", "1", "offset", "1"), http.StatusOK, schemaWorkflowDiscovery)
	}
	unknown := c.get(step2("NoSuchActionType"), broad, http.StatusOK, schemaWorkflowDiscovery)
	assert.Equal(t, "NoSuchActionType", unknown.doc["actionType"])
	assert.Equal(t, []any{}, unknown.doc["workflows"], "an unknown action type lists no workflow")
	assert.EqualValues(t, 0, unknown.doc["pagination"].(map[string]any)["totalCount"])

	// Every 400 there is to provoke.
	anyID := standardID
	for _, bad := range []struct {
		path  string
		query url.Values
		field string
	}{
		{step1, with(broad, "severity", ""), "severity"},
		{step1, with(broad, "severity", "catastrophic"), "severity"},
		{step1, with(broad, "component", ""), "component"},
		{step1, with(broad, "component", "deployment"), "component"},
		{step1, with(broad, "environment", ""), "environment"},
		{step1, with(broad, "priority", ""), "priority"},
		{step1, with(broad, "priority", "P9"), "priority"},
		{step1, with(broad, "custom_labels", `{"team":`), "custom_labels"},
		{step1, with(broad, "custom_labels", `{"team":"payments"}`), "custom_labels"},
		{step1, with(broad, "custom_labels", `{"team":["a","b","c","d","e","f"]}`), "custom_labels"},
		{step1, with(broad, "detected_labels", `{"gitOpsManaged":"yes"}`), "detected_labels"},
		{step1, with(broad, "detected_labels", `{"noSuchLabel":true}`), "detected_labels"},
		{step1, with(broad, "detected_labels", `not json`), "detected_labels"},
		{step1, with(broad, "remediationId", "rr-other"), "remediation_id"},
		{step1, with(broad, "cluster", strings.Repeat("c", 300)), "cluster"},
		{step2("ScaleReplicas"), with(broad, "priority", ""), "priority"},
		{step2("ScaleReplicas"), with(broad, "severity", "urgent"), "severity"},
		{step2("ScaleReplicas"), with(broad, "custom_labels", `[1,2]`), "custom_labels"},
		{step2(strings.Repeat("A", 300)), broad, "action_type"},
		{step3("not-a-uuid"), nil, "workflow_id"},
		{step3("not-a-uuid"), broad, "workflow_id"},
		{step3(anyID), url.Values{"severity": {"catastrophic"}}, "severity"},
		{step3(anyID), url.Values{"custom_labels": {"{"}}, "custom_labels"},
		{step3(anyID), url.Values{"detected_labels": {`{"stateful":"maybe"}`}}, "detected_labels"},
		{validate("not-a-uuid"), nil, "workflow_id"},
		{validate(anyID), url.Values{"priority": {"urgent"}}, "priority"},
	} {
		c.badRequest(http.MethodGet, bad.path, bad.query, "", bad.field)
	}
	for _, bad := range []struct{ id, body, field string }{
		{anyID, `{"parameters":`, "body"},
		{anyID, `not json`, "body"},
		{anyID, `{"parameters":[1,2]}`, "parameters"},
		{anyID, `{"parameters":"x"}`, "parameters"},
		{anyID, `{}`, "parameters"},
		{anyID, `{"params":{}}`, "body"},
		{"not-a-uuid", `{"parameters":{}}`, "workflow_id"},
	} {
		c.badRequest(http.MethodPost, validate(bad.id), nil, bad.body, bad.field)
	}

	// The 404s: an unknown id, and a workflow the security gate refuses
	// (restart-pod-standard targets v1/Pod only).
	mismatch := url.Values{"component": {"v1/Node"}, "remediation_id": {"rr-compat-gate"}}
	c.get(step3(uuid.NewString()), nil, http.StatusNotFound, "")
	hidden := c.get(step3(standardID), mismatch, http.StatusNotFound, "")
	unknownID := c.get(step3(uuid.NewString()), mismatch, http.StatusNotFound, "")
	assert.Equal(t, string(unknownID.body), string(hidden.body), "the gate's 404 is the unknown id's")
	c.get(step3(standardID), with(standardCtx, "severity", "info", "environment", "test", "priority", "P3",
		"detected_labels", `{"serviceMesh":"istio"}`), http.StatusOK, schemaRemediationWorkflow)
	c.get(validate(standardID), mismatch, http.StatusNotFound, "")
	c.do(http.MethodPost, validate(standardID), mismatch, `{"parameters":{}}`, http.StatusNotFound, "")
	c.get(validate(uuid.NewString()), nil, http.StatusNotFound, "")
	c.do(http.MethodPost, validate(uuid.NewString()), nil, `{"parameters":{}}`, http.StatusNotFound, "")

	// Other problems the functions answer: 405 and 413 use the same shape.
	c.do(http.MethodDelete, step1, broad, "", http.StatusMethodNotAllowed, "")
	c.do(http.MethodPost, step3(standardID), nil, `{}`, http.StatusMethodNotAllowed, "")
	c.do(http.MethodPost, validate(standardID), nil,
		`{"parameters":{"x":"`+strings.Repeat("x", 2<<20)+`"}}`, http.StatusRequestEntityTooLarge, "")

	for _, k := range []string{schemaActionTypeList + " 200", schemaWorkflowDiscovery + " 200", schemaRemediationWorkflow + " 200",
		schemaValidationResult + " 200", schemaProblem + " 400", schemaProblem + " 404"} {
		assert.Positive(t, c.covered[k], "answers checked: %s", k)
	}
	summary := []string{}
	for k, n := range c.covered {
		summary = append(summary, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(summary)
	t.Logf("answers checked against the schemas: %s; step 3 optional fields seen: %v",
		strings.Join(summary, ", "), sortedKeys(c.optional))
}

// optionalFields are the optional fields of id's step 3 answer.
func (c *compatChecker) optionalFields(id string, ctx url.Values) map[string]bool {
	c.t.Helper()
	a := c.get("/api/v1/workflows/"+id, ctx, http.StatusOK, schemaRemediationWorkflow)
	out := map[string]bool{}
	for _, k := range []string{"workflowId", "owner", "maintainer", "parameters", "executionBundle", "executionBundleDigest",
		"serviceAccountName", "engineConfig", "customLabels", "detectedLabels", "isLatestVersion"} {
		if _, ok := a.doc[k]; ok {
			out[k] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkStep3 checks what a schema cannot: content is the clean content whose
// SHA-256 is contentHash, the workflow id derives from it, and parameters
// wraps the document's own parameter list.
func checkStep3(t *testing.T, id string, a answer) {
	t.Helper()
	content, _ := a.doc["content"].(string)
	sum := sha256.Sum256([]byte(content))
	assert.Equal(t, hex.EncodeToString(sum[:]), a.doc["contentHash"], "%s: sha256(content) == contentHash", id)
	assert.Equal(t, id, a.doc["workflowId"])
	hash, _ := a.doc["contentHash"].(string)
	assert.Equal(t, uuid.NewSHA1(uuid.MustParse(workflowIDNamespace), []byte(hash)).String(), id,
		"workflowId = UUIDv5(namespace, contentHash)")

	var doc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version    string          `json:"version"`
			ActionType string          `json:"actionType"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal([]byte(content), &doc), "%s: content is a JSON document", id)
	assert.Equal(t, "kubernaut.ai/v1alpha1", doc.APIVersion)
	assert.Equal(t, "RemediationWorkflow", doc.Kind)
	assert.Equal(t, a.doc["workflowName"], doc.Metadata.Name)
	assert.Equal(t, a.doc["name"], doc.Metadata.Name)
	assert.Equal(t, a.doc["version"], doc.Spec.Version)
	assert.Equal(t, a.doc["actionType"], doc.Spec.ActionType)

	var envelope map[string]map[string]json.RawMessage
	params, err := json.Marshal(a.doc["parameters"])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(params, &envelope), "%s: parameters is {\"schema\":{\"parameters\":[...]}}", id)
	require.Len(t, envelope, 1)
	require.Contains(t, envelope, "schema")
	require.Len(t, envelope["schema"], 1)
	assert.JSONEq(t, string(doc.Spec.Parameters), string(envelope["schema"]["parameters"]),
		"%s: parameters.schema.parameters is the document's spec.parameters", id)
}

// The schemas are strict: each answer below breaks one rule of the contract
// that a generated client enforces, and its schema refuses it.
func TestKubernautSchemasRefuseBadAnswers(t *testing.T) {
	schemas := compatSchemas(t)
	const (
		desc    = `{"what":"w","whenToUse":"u"}`
		page    = `{"totalCount":1,"offset":0,"limit":10,"hasMore":false}`
		id      = `"0f2bf68d-9326-503d-b4e6-7cf8cef042df"`
		hash    = `"2a5219800f4d72a7380ce431ecbbfdae604800ccd839d0990eda7893b894e1a4"`
		labels  = `{"severity":["*"],"environment":["*"],"component":["v1/Node"],"priority":"*"}`
		params  = `{"schema":{"parameters":[{"name":"N","type":"string","required":true,"description":"d"}]}}`
		entry   = `{"workflowId":` + id + `,"workflowName":"n","name":"n","description":` + desc + `,"version":"1.0.0"}`
		action  = `{"actionType":"CordonNode","description":` + desc + `,"workflowCount":1}`
		problem = `{"type":"https://kubernaut.ai/problems/not-found","title":"Not Found","status":404,"detail":"d"}`
	)
	step3 := func(extra string) string {
		return `{"workflowId":` + id + `,"workflowName":"n","name":"n","actionType":"CordonNode","version":"1.0.0",` +
			`"schemaVersion":"1.0","description":` + desc + `,"content":"{}","contentHash":` + hash + `,"labels":` + labels +
			`,"parameters":` + params + `,"executionEngine":"job","status":"Active"` + extra + `}`
	}
	good := map[string]string{
		schemaActionTypeList:      `{"actionTypes":[` + action + `],"pagination":` + page + `}`,
		schemaWorkflowDiscovery:   `{"actionType":"CordonNode","workflows":[` + entry + `],"pagination":` + page + `}`,
		schemaRemediationWorkflow: step3(`,"maintainer":"a@example.com","detectedLabels":{"stateful":true},"customLabels":{"team":["a"]}`),
		schemaValidationResult:    `{"valid":false,"workflowId":` + id + `,"errors":[{"parameter":"N","message":"m"}]}`,
		schemaProblem:             problem,
	}
	bad := []struct{ schema, why, doc string }{
		{schemaActionTypeList, "no pagination", `{"actionTypes":[]}`},
		{schemaActionTypeList, "negative workflowCount", `{"actionTypes":[{"actionType":"A","description":` + desc + `,"workflowCount":-1}],"pagination":` + page + `}`},
		{schemaActionTypeList, "limit 0", `{"actionTypes":[],"pagination":{"totalCount":0,"offset":0,"limit":0,"hasMore":false}}`},
		{schemaActionTypeList, "description without whenToUse", `{"actionTypes":[{"actionType":"A","description":{"what":"w"},"workflowCount":1}],"pagination":` + page + `}`},
		{schemaWorkflowDiscovery, "a score", `{"actionType":"A","workflows":[` + strings.TrimSuffix(entry, "}") + `,"finalScore":0.5}],"pagination":` + page + `}`},
		{schemaWorkflowDiscovery, "workflowId not a uuid", `{"actionType":"A","workflows":[` + strings.Replace(entry, id, `"wf-1"`, 1) + `],"pagination":` + page + `}`},
		{schemaWorkflowDiscovery, "executionEngine outside the enum", `{"actionType":"A","workflows":[` + strings.TrimSuffix(entry, "}") + `,"executionEngine":"argo"}],"pagination":` + page + `}`},
		{schemaRemediationWorkflow, "contentHash of 63 chars", strings.Replace(step3(""), hash, `"`+strings.Repeat("a", 63)+`"`, 1)},
		{schemaRemediationWorkflow, "maintainer not an email", step3(`,"maintainer":"sre-team"`)},
		{schemaRemediationWorkflow, "status outside the enum", strings.Replace(step3(""), `"Active"`, `"Enabled"`, 1)},
		{schemaRemediationWorkflow, "parameters as a bare list", strings.Replace(step3(""), params, `[{"name":"N","type":"string","required":true,"description":"d"}]`, 1)},
		{schemaRemediationWorkflow, "customLabels as strings", step3(`,"customLabels":{"team":"a"}`)},
		{schemaRemediationWorkflow, "detected boolean as a string", step3(`,"detectedLabels":{"stateful":"true"}`)},
		{schemaRemediationWorkflow, "storageBackend outside the enum", step3(`,"detectedLabels":{"storageBackend":"nfs"}`)},
		{schemaRemediationWorkflow, "an undeclared field", step3(`,"score":1`)},
		{schemaRemediationWorkflow, "createdAt not a date-time", step3(`,"createdAt":"yesterday"`)},
		{schemaValidationResult, "valid with errors", `{"valid":true,"workflowId":` + id + `,"errors":[{"parameter":"N","message":"m"}]}`},
		{schemaProblem, "type outside kubernaut.ai/problems", strings.Replace(problem, "https://kubernaut.ai/problems/not-found", "about:blank", 1)},
		{schemaProblem, "a 400 without field lists", `{"type":"https://kubernaut.ai/problems/validation-error","title":"Bad Request","status":400}`},
		{schemaProblem, "a 404 typed as a validation error", strings.Replace(problem, "not-found", "validation-error", 1)},
		{schemaProblem, "instance not a URI reference", strings.TrimSuffix(problem, "}") + `,"instance":"a b\\\\c"}`},
	}
	for name, doc := range good {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		require.NoError(t, err, doc)
		assert.NoError(t, schemas[name].Validate(inst), "a good %s answer", name)
	}
	for _, b := range bad {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(b.doc))
		require.NoError(t, err, b.doc)
		assert.Error(t, schemas[b.schema].Validate(inst), "%s: %s", b.schema, b.why)
	}
}
