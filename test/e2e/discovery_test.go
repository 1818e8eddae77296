package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/infra/catalog"
	"function/shared/auditstore"
	catalogpkg "function/shared/catalog"
	"function/shared/catalogstore"
	"function/shared/routes"
	"function/test/procs"
	"function/test/testenv"
)

// discoveryStack is the four discovery functions and the collector as
// processes behind the shared route table, over the sample catalog.
type discoveryStack struct {
	db     testenv.DB
	router string
}

func startDiscovery(t *testing.T) discoveryStack {
	t.Helper()
	db := testenv.NewDB(t)
	loadCatalog(t, db, catalog.FS)
	col := collector(t, db, procs.FreeAddr(t))
	addrs := map[string]string{"collector": col.Addr}
	for _, fn := range []string{"actions", "workflows", "workflow", "validate"} {
		p := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), map[string]string{
			"AUDITFN_FUNCTION": fn, "AUDITFN_PG_DSN": db.AppDSN, "K_SINK": col.URL()})
		addrs[fn] = p.Addr
	}
	router := httptest.NewServer(routes.Proxy(addrs))
	t.Cleanup(router.Close)
	return discoveryStack{db: db, router: router.URL}
}

// loadCatalog loads the YAML documents of fsys into db, as the loader does.
func loadCatalog(t *testing.T, db testenv.DB, fsys fs.FS) {
	t.Helper()
	c, err := catalogpkg.LoadDir(fsys)
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, catalogstore.Save(ctx, conn, c.ActionTypes(), c.Workflows()))
}

// withExtra is the sample catalog plus extra documents.
func withExtra(extra map[string]string) fs.FS {
	m := fstest.MapFS{}
	entries, _ := fs.ReadDir(catalog.FS, ".")
	for _, e := range entries {
		b, _ := fs.ReadFile(catalog.FS, e.Name())
		m[e.Name()] = &fstest.MapFile{Data: b}
	}
	for name, doc := range extra {
		m[name] = &fstest.MapFile{Data: []byte(doc)}
	}
	return m
}

func get(t *testing.T, rawURL string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(rawURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var signal = url.Values{
	"severity": {"critical"}, "component": {"apps/v1/Deployment"}, "environment": {"production"},
	"priority": {"P1"}, "remediationId": {"rr-hapi-flow-1"},
}

// HAPI's flow: step 1 → step 2 → step 3 → validate with one remediation id;
// then its four events are stored under that correlation id, in order.
func TestHAPIDiscoveryFlowIsAuditedInOrder(t *testing.T) {
	s := startDiscovery(t)
	status, body := get(t, s.router+"/api/v1/workflows/actions?"+signal.Encode())
	require.Equal(t, http.StatusOK, status, string(body))
	var step1 struct {
		ActionTypes []struct {
			ActionType    string `json:"actionType"`
			WorkflowCount int    `json:"workflowCount"`
		} `json:"actionTypes"`
		Pagination struct{ TotalCount int } `json:"pagination"`
	}
	require.NoError(t, json.Unmarshal(body, &step1))
	require.NotEmpty(t, step1.ActionTypes)
	action := step1.ActionTypes[0].ActionType

	status, body = get(t, s.router+"/api/v1/workflows/actions/"+action+"?"+signal.Encode())
	require.Equal(t, http.StatusOK, status, string(body))
	var keys struct{ Workflows []map[string]any }
	require.NoError(t, json.Unmarshal(body, &keys))
	for _, wf := range keys.Workflows {
		assert.Subset(t, []string{"workflowId", "workflowName", "name", "description", "version", "schemaVersion",
			"executionBundle", "executionEngine", "serviceAccountName"},
			slices.Collect(maps.Keys(wf)), "only the answered fields: no score")
	}
	var step2 struct {
		Workflows []struct{ WorkflowID string } `json:"workflows"`
	}
	require.NoError(t, json.Unmarshal(body, &step2))
	require.Len(t, step2.Workflows, step1.ActionTypes[0].WorkflowCount)
	id := step2.Workflows[0].WorkflowID

	status, body = get(t, s.router+"/api/v1/workflows/"+id+"?"+signal.Encode())
	require.Equal(t, http.StatusOK, status, string(body))
	var step3 map[string]any
	require.NoError(t, json.Unmarshal(body, &step3))
	for _, k := range []string{"workflowId", "workflowName", "name", "version", "description", "actionType", "contentHash",
		"labels", "parameters", "executionEngine", "status"} {
		assert.Contains(t, step3, k)
	}

	resp, err := http.Post(s.router+"/api/v1/workflows/"+id+"/validate?"+signal.Encode(), "application/json",
		strings.NewReader(`{"parameters":{"NOPE":1}}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var validated struct {
		Valid  bool
		Errors []struct{ Parameter, Message string }
	}
	require.NoError(t, json.Unmarshal(b, &validated))
	assert.False(t, validated.Valid)
	assert.NotEmpty(t, validated.Errors)

	query := "audit.audit_events WHERE correlation_id = 'rr-hapi-flow-1'"
	require.Eventually(t, func() bool { return s.db.Count(t, query) == 4 }, 15*time.Second, 50*time.Millisecond)
	recs, err := auditstore.ReadRecords(context.Background(), appPool(t, s.db), "WHERE correlation_id = $1 ORDER BY event_time", "rr-hapi-flow-1")
	require.NoError(t, err)
	wantTypes := []string{"workflow.catalog.actions_listed", "workflow.catalog.workflows_listed",
		"workflow.catalog.workflow_retrieved", "workflow.catalog.selection_validated"}
	wantKeys := [][]string{
		{"remediationId", "signalContext", "resultCount", "actionTypes", "pagination", "queryDurationMs"},
		{"actionType", "workflows", "pagination", "queryDurationMs", "signalContext"},
		{"workflowId", "workflowName", "actionType", "version", "contentHash", "securityGateResult", "parameterCount", "queryDurationMs"},
		{"workflowId", "securityGateResult", "validationResult", "parameterValidation", "queryDurationMs"},
	}
	for i, r := range recs {
		assert.Equal(t, wantTypes[i], r.Type)
		var data map[string]any
		require.NoError(t, json.Unmarshal(r.Data, &data))
		for _, k := range wantKeys[i] {
			assert.Contains(t, data, k, r.Type)
		}
		assert.Equal(t, "holmesgpt-api", r.ActorID)
	}
	assert.Contains(t, string(recs[1].Data), `"finalScore"`, "the score is audited")
	assert.Contains(t, string(recs[2].Data), `"securityGateResult":"pass"`)
	assert.Contains(t, string(recs[3].Data), `"validationResult":"invalid"`)
	assert.Equal(t, "failure", recs[3].Outcome)
}

// The gate: a workflow that exists but does not match gives the very same
// 404 as a random id, and an audited failure.
func TestSecurityGateDoesNotLeakExistence(t *testing.T) {
	s := startDiscovery(t)
	status, body := get(t, s.router+"/api/v1/workflows/actions/ScaleReplicas?"+signal.Encode())
	require.Equal(t, http.StatusOK, status)
	var step2 struct {
		Workflows []struct{ WorkflowID string } `json:"workflows"`
	}
	require.NoError(t, json.Unmarshal(body, &step2))
	require.NotEmpty(t, step2.Workflows)
	id := step2.Workflows[0].WorkflowID

	mismatch := url.Values{"severity": {"info"}, "environment": {"nowhere"}, "remediation_id": {"rr-gate"}}
	s1, hidden := get(t, s.router+"/api/v1/workflows/"+id+"?"+mismatch.Encode())
	s2, unknown := get(t, s.router+"/api/v1/workflows/"+uuid.NewString()+"?"+mismatch.Encode())
	assert.Equal(t, http.StatusNotFound, s1)
	assert.Equal(t, http.StatusNotFound, s2)
	assert.Equal(t, string(unknown), string(hidden), "byte for byte")
	s3, _ := get(t, s.router+"/api/v1/workflows/"+id+"/validate?"+mismatch.Encode())
	assert.Equal(t, http.StatusNotFound, s3)

	query := "audit.audit_events WHERE correlation_id = 'rr-gate' AND event_outcome = 'failure' AND event_data->>'securityGateResult' = 'fail'"
	require.Eventually(t, func() bool { return s.db.Count(t, query) == 3 }, 15*time.Second, 50*time.Millisecond)
}

// Bad input gets a 400 naming the field, and no event.
func TestBadDiscoveryInputIsRefusedAndNotAudited(t *testing.T) {
	s := startDiscovery(t)
	base := func(drop string, set ...string) string {
		q := url.Values{}
		for k, v := range signal {
			if k != drop {
				q[k] = v
			}
		}
		q.Set("remediationId", "rr-bad")
		for i := 0; i+1 < len(set); i += 2 {
			q.Set(set[i], set[i+1])
		}
		return q.Encode()
	}
	cases := []struct{ path, query, field string }{
		{"/api/v1/workflows/actions", base("severity"), "severity"},
		{"/api/v1/workflows/actions", base("", "severity", "catastrophic"), "severity"},
		{"/api/v1/workflows/actions", base("component"), "component"},
		{"/api/v1/workflows/actions", base("", "component", "deployment"), "component"},
		{"/api/v1/workflows/actions", base("environment"), "environment"},
		{"/api/v1/workflows/actions", base("", "priority", "P9"), "priority"},
		{"/api/v1/workflows/actions", base("", "custom_labels", `{"team":`), "custom_labels"},
		{"/api/v1/workflows/actions", base("", "custom_labels", `{"team":["a","b","c","d","e","f"]}`), "custom_labels"},
		{"/api/v1/workflows/actions", base("", "detected_labels", `{"gitOpsManaged":"yes"}`), "detected_labels"},
		{"/api/v1/workflows/actions", base("", "detected_labels", `{"noSuchLabel":true}`), "detected_labels"},
		{"/api/v1/workflows/actions", base("", "remediation_id", "rr-other"), "remediation_id"},
		{"/api/v1/workflows/actions", base("", "cluster", strings.Repeat("c", 300)), "cluster"},
		{"/api/v1/workflows/actions/ScaleReplicas", base("priority"), "priority"},
		{"/api/v1/workflows/not-a-uuid", "remediationId=rr-bad", "workflow_id"},
		{"/api/v1/workflows/not-a-uuid/validate", "remediationId=rr-bad", "workflow_id"},
	}
	for _, c := range cases {
		status, body := get(t, s.router+c.path+"?"+c.query)
		assert.Equal(t, http.StatusBadRequest, status, "%s?%s", c.path, c.query)
		var p struct {
			Errors []struct{ Field string } `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(body, &p), string(body))
		fields := []string{}
		for _, e := range p.Errors {
			fields = append(fields, e.Field)
		}
		assert.Contains(t, fields, c.field, "%s?%s", c.path, c.query)
	}
	resp, err := http.Post(s.router+"/api/v1/workflows/"+uuid.NewString()+"/validate?remediationId=rr-bad", "application/json",
		bytes.NewReader(append([]byte(`{"parameters":{"x":"`), append(bytes.Repeat([]byte("x"), 2<<20), []byte(`"}}`)...)...)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	// A good request after the bad ones: once its event is in, none of the
	// bad ones left one.
	status, _ := get(t, s.router+"/api/v1/workflows/actions?"+base("", "remediationId", "rr-good"))
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool { return s.db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-good'") == 1 },
		15*time.Second, 50*time.Millisecond)
	assert.Equal(t, int64(0), s.db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-bad'"))
}

// A workflow loaded while the functions run appears in step 2 at once.
func TestCatalogChangeIsServedWithoutRestart(t *testing.T) {
	s := startDiscovery(t)
	listed := func() string {
		_, body := get(t, s.router+"/api/v1/workflows/actions/CordonNode?"+url.Values{
			"severity": {"warning"}, "component": {"v1/Node"}, "environment": {"qa-lab-7"}, "priority": {"P3"}}.Encode())
		return string(body)
	}
	require.NotContains(t, listed(), "cordon-qa-lab")
	doc := `apiVersion: kubernaut.ai/v1alpha1
kind: RemediationWorkflow
metadata:
  name: cordon-qa-lab
spec:
  version: 0.1.0
  description:
    what: Cordons the node.
    whenToUse: A QA lab node misbehaves.
  actionType: CordonNode
  labels:
    severity: [warning]
    environment: [qa-lab-7]
    component: [v1/Node]
    priority: P3
  execution:
    engine: tekton
  parameters:
    - {name: NODE, type: string, required: true, description: The node.}
`
	loadCatalog(t, s.db, withExtra(map[string]string{"extra.yaml": doc}))
	require.Eventually(t, func() bool { return strings.Contains(listed(), "cordon-qa-lab") }, 10*time.Second, 50*time.Millisecond)
}
