package blockclear

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"function/shared/auditevent"
	"function/shared/kubeapi"
)

// cleared is a WFE named name whose block was cleared at `at` (zero: not
// cleared), in whole seconds as the API server stores it.
func cleared(name, uid string, at time.Time) WorkflowExecution {
	w := failedWFE()
	w.Name, w.UID = name, types.UID(uid)
	if !at.IsZero() {
		w.Status.BlockClearance = &BlockClearance{ClearReason: "root cause fixed in PR 1234", ClearMethod: MethodStatusField,
			ClearedBy: "alice@example.com", ClearedByUID: "u-4242", ClearedAt: metav1.NewTime(at.Truncate(time.Second))}
	}
	return w
}

// listServer answers WorkflowExecution lists like the API server, in pages
// of two, to the service account token "sa-token" only.
func listServer(t *testing.T, items []WorkflowExecution) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sa-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != workflowExecutions("kubernaut") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		assert.Equal(t, "500", r.URL.Query().Get("limit"))
		start := 0
		if c := r.URL.Query().Get("continue"); c != "" {
			require.NoError(t, json.Unmarshal([]byte(c), &start))
		}
		end := min(start+2, len(items))
		page := map[string]any{"apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecutionList",
			"metadata": map[string]any{}, "items": items[start:end]}
		if end < len(items) {
			next, _ := json.Marshal(end)
			page["metadata"] = map[string]any{"continue": string(next)}
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
}

func withAPI(f *Function, srv *httptest.Server, token string) {
	f.kube = kubeapi.New(srv.URL, srv.Client(), func() ([]byte, error) { return []byte(token + "\n"), nil })
	f.namespace, f.window = "kubernaut", 7*24*time.Hour
	f.now = func() time.Time { return now }
}

// A reconcile emits, across every page, the event of each clearance made in
// the window, with the id the webhook gave it; nothing for WFEs not cleared,
// cleared before the window, or without a uid.
func TestReconcileEmitsEachRecentClearanceUnderItsUpdateEventsID(t *testing.T) {
	items := []WorkflowExecution{
		cleared("wfe-a", "uid-a", now.Add(-time.Hour)),
		cleared("wfe-not-cleared", "uid-b", time.Time{}),
		cleared("wfe-long-ago", "uid-c", now.Add(-30*24*time.Hour)),
		cleared("wfe-d", "uid-d", now.Add(-6*24*time.Hour)),
		cleared("wfe-no-uid", "", now.Add(-time.Hour)),
	}
	srv := listServer(t, items)
	defer srv.Close()
	f := New()
	withAPI(f, srv, "sa-token")

	var got []auditevent.Event
	n, err := f.reconcile(context.Background(), now.Add(-f.window), func(e auditevent.Event) { got = append(got, e) })
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.Len(t, got, 2)
	for i, w := range []WorkflowExecution{items[0], items[3]} {
		want, err := auditEvent(&w)
		require.NoError(t, err)
		assert.Equal(t, EventID(string(w.UID), w.Status.BlockClearance.ClearedAt.Time), got[i].ID)
		assert.Equal(t, want, got[i], "the same event the webhook emitted for %s", w.Name)
	}

	defer func(n int) { maxReconciled = n }(maxReconciled)
	maxReconciled = 1
	capped := listServer(t, []WorkflowExecution{items[3], items[1], items[0]}) // the newest listed last
	defer capped.Close()
	withAPI(f, capped, "sa-token")
	got = nil
	n, err = f.reconcile(context.Background(), now.Add(-f.window), func(e auditevent.Event) { got = append(got, e) })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Len(t, got, 1)
	assert.Equal(t, "payments/wfe-a", got[0].Subject, "over the cap, the newest clearances go first")

	withAPI(f, srv, "wrong")
	_, err = f.reconcile(context.Background(), now.Add(-f.window), func(auditevent.Event) {})
	assert.ErrorContains(t, err, "401")
}

// A ping makes the function reconcile: 202 and the events reach the sink;
// 503 when the API server cannot be listed or there is none.
func TestAPingReconciles(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err == nil {
			mu.Lock()
			ids = append(ids, e.ID())
			mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	srv := listServer(t, []WorkflowExecution{cleared("wfe-a", "uid-a", now.Add(-time.Hour))})
	defer srv.Close()

	ping := func(f *Function) int {
		e := cloudevents.NewEvent()
		e.SetID("ping-1")
		e.SetSource("/apis/v1/namespaces/kubernaut/pingsources/auditfn-blockclear-reconcile")
		e.SetType(PingType)
		require.NoError(t, e.SetData(cloudevents.ApplicationJSON, map[string]string{"task": "reconcile"}))
		req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), "http://blockclear/", e)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		f.Handle(rec, req)
		return rec.Code
	}

	f := New()
	require.NoError(t, f.Start(context.Background(), map[string]string{"K_SINK": sink.URL}))
	defer f.Stop(context.Background())
	assert.Equal(t, http.StatusServiceUnavailable, ping(f), "outside a cluster there is nothing to list")

	withAPI(f, srv, "sa-token")
	assert.Equal(t, http.StatusAccepted, ping(f))
	want := EventID("uid-a", now.Add(-time.Hour).Truncate(time.Second)).String()
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ids) == 1 && ids[0] == want
	}, 5*time.Second, 10*time.Millisecond)

	withAPI(f, srv, "wrong")
	assert.Equal(t, http.StatusServiceUnavailable, ping(f))
}

func TestReconcileListsOneNamespaceOrAll(t *testing.T) {
	assert.Equal(t, "/apis/kubernaut.ai/v1alpha1/namespaces/kubernaut/workflowexecutions", workflowExecutions("kubernaut"))
	assert.Equal(t, "/apis/kubernaut.ai/v1alpha1/workflowexecutions", workflowExecutions("*"))
}
