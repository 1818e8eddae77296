package catalogsync

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/shared/kubeapi"
	"function/test/testenv"
)

const actionType = `apiVersion: kubernaut.ai/v1alpha1
kind: ActionType
metadata: {name: restart-pod, namespace: kubernaut, uid: 6f1d2c3b-0000-4000-8000-000000000001, resourceVersion: "11"}
spec:
  name: RestartPod
  description: {what: Deletes a pod., whenToUse: One pod is wedged.}
`

// rw is a RemediationWorkflow resource as the API server returns it.
func rw(name, version, what string) string {
	return `apiVersion: kubernaut.ai/v1alpha1
kind: RemediationWorkflow
metadata:
  name: ` + name + `
  namespace: kubernaut
  uid: 6f1d2c3b-0000-4000-8000-000000000002
  resourceVersion: "42"
  generation: 1
  creationTimestamp: "2026-11-30T10:00:00Z"
  managedFields: [{manager: kubectl, operation: Update, apiVersion: kubernaut.ai/v1alpha1}]
spec:
  version: ` + version + `
  description: {what: "` + what + `", whenToUse: One pod is wedged.}
  actionType: RestartPod
  labels: {severity: ["*"], environment: ["*"], component: [v1/Pod], priority: "*"}
  execution: {engine: job}
  parameters:
    - {name: POD_NAME, type: string, required: true, description: The pod.}
`
}

type env struct {
	f     *Function
	db    testenv.DB
	snaps *catalogstore.Snapshots // what a discovery function serves
}

func start(t *testing.T) env {
	t.Helper()
	db := testenv.NewDB(t)
	f := New()
	require.NoError(t, f.Start(context.Background(), map[string]string{"AUDITFN_PG_DSN": db.CatalogDSN(t)}))
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	cfg, err := pgx.ParseConfig(db.AppDSN)
	require.NoError(t, err)
	snaps, err := catalogstore.Watch(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(snaps.Close)
	return env{f: f, db: db, snaps: snaps}
}

// send delivers a resource the way the upstream ApiServerSource adapter
// does in Resource mode: a binary-mode CloudEvent whose data is the object.
func (e env) send(t *testing.T, typ, doc string) *httptest.ResponseRecorder {
	t.Helper()
	obj, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	var meta struct {
		Kind     string
		Metadata struct{ Name, Namespace string }
	}
	require.NoError(t, json.Unmarshal(obj, &meta))
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(obj)))
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Id", uuid.NewString())
	r.Header.Set("Ce-Source", "https://10.96.0.1:443")
	r.Header.Set("Ce-Type", typ)
	r.Header.Set("Ce-Subject", "/apis/kubernaut.ai/v1alpha1/namespaces/"+meta.Metadata.Namespace+"/"+strings.ToLower(meta.Kind)+"s/"+meta.Metadata.Name)
	r.Header.Set("Ce-Kind", meta.Kind)
	r.Header.Set("Ce-Name", meta.Metadata.Name)
	r.Header.Set("Ce-Namespace", meta.Metadata.Namespace)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.f.Handle(w, r)
	return w
}

// served is the discoverable workflow names and versions of the snapshot.
func (e env) served() map[string]string {
	out := map[string]string{}
	c := e.snaps.Current()
	page, _ := c.ListWorkflows("RestartPod", catalog.Filter{}, 0, 100)
	for _, r := range page {
		out[r.Workflow.WorkflowName] = r.Workflow.Version
	}
	return out
}

func (e env) eventually(t *testing.T, want map[string]string) {
	t.Helper()
	assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, e.served()) }, time.Second, 10*time.Millisecond,
		"a running function sees the change within a second; serving %v", e.served())
}

func TestClusterEventsDriveTheCatalog(t *testing.T) {
	e := start(t)
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, actionType).Code)
	w := e.send(t, ResourceAdd, rw("restart-pod-standard", "1.0.0", "Deletes one pod."))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	e.eventually(t, map[string]string{"restart-pod-standard": "1.0.0"})

	// A new version: served instead of the old, which stays in the table.
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceUpdate, rw("restart-pod-standard", "1.1.0", "Deletes one pod, gently.")).Code)
	e.eventually(t, map[string]string{"restart-pod-standard": "1.1.0"})

	// Deleted in the cluster: Disabled, not deleted, and no longer served.
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceDelete, rw("restart-pod-standard", "1.1.0", "Deletes one pod, gently.")).Code)
	e.eventually(t, map[string]string{})
	assert.EqualValues(t, 2, e.db.Count(t, "catalog.workflows WHERE workflow_name = 'restart-pod-standard'"))
	assert.EqualValues(t, 1, e.db.Count(t, "catalog.workflows WHERE status = 'Disabled'"))

	// Re-created: Active again under the same id.
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, rw("restart-pod-standard", "1.1.0", "Deletes one pod, gently.")).Code)
	e.eventually(t, map[string]string{"restart-pod-standard": "1.1.0"})
	assert.EqualValues(t, 2, e.db.Count(t, "catalog.workflows"))

	// A deleted action type stays: workflows still name it.
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceDelete, actionType).Code)
	assert.EqualValues(t, 1, e.db.Count(t, "catalog.action_types"))
}

func TestClusterDocumentsThatCannotBeServedAreRefused(t *testing.T) {
	e := start(t)
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, actionType).Code)
	good := rw("restart-pod-standard", "1.0.0", "Deletes one pod.")
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, good).Code)
	e.eventually(t, map[string]string{"restart-pod-standard": "1.0.0"})
	before := e.db.Count(t, "catalog.workflows")

	for _, tc := range []struct {
		name   string
		doc    string
		status int
		field  string
	}{
		{"status claims another workflow id", good + "status: {workflowId: 71d4f057-f74a-5b58-aaa6-5d4afd8d0d13, catalogStatus: Active}\n",
			http.StatusBadRequest, "data.status.workflowId"},
		{"status claims another content hash", good + "status: {contentHash: \"" + strings.Repeat("ab", 32) + "\"}\n",
			http.StatusBadRequest, "data.status.contentHash"},
		{"content changed under a published version", rw("restart-pod-standard", "1.0.0", "Deletes every pod."), http.StatusConflict, ""},
		{"unknown field", strings.Replace(good, "  actionType:", "  actionTyp: RestartPod\n  actionType:", 1), http.StatusBadRequest, "data.spec.actionTyp"},
		{"unknown action type", strings.Replace(good, "actionType: RestartPod", "actionType: RebootPod", 1), http.StatusBadRequest, "data.spec.actionType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.send(t, ResourceUpdate, tc.doc)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			var p struct {
				FieldErrors map[string]string `json:"field_errors"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			if tc.field != "" {
				assert.Contains(t, p.FieldErrors, tc.field, w.Body.String())
			}
			assert.Equal(t, before, e.db.Count(t, "catalog.workflows"), "nothing stored")
		})
	}
	e.eventually(t, map[string]string{"restart-pod-standard": "1.0.0"})
}

func TestBadEventsAreRefused(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		status int
	}{
		{"not a CloudEvent", http.MethodPost, "/", nil, "{}", http.StatusBadRequest},
		{"not JSON data", http.MethodPost, "/", map[string]string{"Ce-Type": ResourceAdd}, "{", http.StatusBadRequest},
		{"a kind of another group", http.MethodPost, "/", map[string]string{"Ce-Type": ResourceAdd}, `{"apiVersion":"v1","kind":"Pod"}`, http.StatusBadRequest},
		{"NUL in a name", http.MethodPost, "/", map[string]string{"Ce-Type": ResourceAdd},
			`{"apiVersion":"kubernaut.ai/v1alpha1","kind":"ActionType","metadata":{"name":"a"},"spec":{"name":"A\u0000","description":{"what":"x","whenToUse":"y"}}}`, http.StatusBadRequest},
		{"another event type", http.MethodPost, "/", map[string]string{"Ce-Type": "dev.example.other"}, "{}", http.StatusAccepted},
		{"GET", http.MethodGet, "/", nil, "", http.StatusMethodNotAllowed},
		{"other path", http.MethodPost, "/x", nil, "", http.StatusNotFound},
		{"ping outside a cluster", http.MethodPost, "/", map[string]string{"Ce-Type": PingType}, "{}", http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.header != nil {
				r.Header.Set("Ce-Specversion", "1.0")
				r.Header.Set("Ce-Id", "1")
				r.Header.Set("Ce-Source", "test")
				r.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			e.f.Handle(w, r)
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status < 500 {
				assert.Less(t, w.Code, 500, "a caller's bad input is never a 5xx")
			}
		})
	}
	assert.Zero(t, e.db.Count(t, "catalog.action_types"))
}

// The hourly resync stores what the cluster lists and disables what it no
// longer has. The list answers come from a stand-in for the API server's
// list endpoint (the real one is issue 15's).
func TestResyncFollowsTheClusterList(t *testing.T) {
	e := start(t)
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, actionType).Code)
	require.Equal(t, http.StatusAccepted, e.send(t, ResourceAdd, rw("gone-while-down", "1.0.0", "Was deleted.")).Code)
	e.eventually(t, map[string]string{"gone-while-down": "1.0.0"})

	lists := map[string][]string{
		"actiontypes":          {actionType},
		"remediationworkflows": {rw("added-while-down", "2.0.0", "Was added."), rw("bad", "1.0.0", "Bad.") + "status: {contentHash: \"" + strings.Repeat("0a", 32) + "\"}\n"},
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resource := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		assert.Equal(t, "/apis/kubernaut.ai/v1alpha1/namespaces/kubernaut/"+resource, r.URL.Path)
		var items []json.RawMessage
		for _, doc := range lists[resource] {
			j, err := yaml.YAMLToJSON([]byte(doc))
			require.NoError(t, err)
			items = append(items, j)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{}, "items": items})
	}))
	defer api.Close()
	e.f.kube = kubeapi.New(api.URL, api.Client(), func() ([]byte, error) { return []byte("token"), nil })
	e.f.namespace = "kubernaut"

	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"task":"resync"}`))
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "p1", "Ce-Source": "/apis/v1/namespaces/kubernaut/pingsources/auditfn-catalog-resync",
		"Ce-Type": PingType, "Content-Type": "application/json"} {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.f.Handle(w, r)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	e.eventually(t, map[string]string{"added-while-down": "2.0.0"})
	assert.EqualValues(t, 1, e.db.Count(t, "catalog.workflows WHERE workflow_name = 'gone-while-down' AND status = 'Disabled'"))
	assert.Zero(t, e.db.Count(t, "catalog.workflows WHERE workflow_name = 'bad'"), "the refused document is not stored")
}
