package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"function/test/procs"
	"function/test/testenv"
)

// wfe is a blocked WorkflowExecution as the API server would send it.
const wfe = `{"apiVersion":"kubernaut.ai/v1alpha1","kind":"WorkflowExecution",
 "metadata":{"name":"wfe-api-7f9c","namespace":"payments","uid":"3c1e0d8a-2b4f-4a6e-9c7d-1e2f3a4b5c6d","resourceVersion":"48121"},
 "spec":{"workflowRef":{"workflowId":"6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b","version":"1.2.0"},"targetResource":"payments/Deployment/api",
  "remediationRequestRef":{"name":"rr-payments-oom-1","namespace":"kubernaut"}},
 "status":{"phase":"Failed","failureDetails":{"reason":"TaskFailed","failedAt":"2026-11-23T13:00:00Z","wasExecutionFailure":true}%s}}`

func reviewBody(clearance string) []byte {
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"a1b2c3d4-0000-4000-8000-000000000001",
 "kind":{"group":"kubernaut.ai","version":"v1alpha1","kind":"WorkflowExecution"},
 "resource":{"group":"kubernaut.ai","version":"v1alpha1","resource":"workflowexecutions"},"subResource":"status",
 "name":"wfe-api-7f9c","namespace":"payments","operation":"UPDATE",
 "userInfo":{"username":"alice@example.com","uid":"u-4242","groups":["sre","system:authenticated"]},
 "object":` + sprintf(wfe, `,"blockClearance":`+clearance) + `,
 "oldObject":` + sprintf(wfe, "") + `}}`)
}

func sprintf(format, arg string) string {
	return string(bytes.Replace([]byte(format), []byte("%s"), []byte(arg), 1))
}

func duplicates(t *testing.T, col *procs.Proc) int {
	resp, err := http.Get(col.URL() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`auditfn_collector_events_total\{result="duplicate"\} (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// sendUpdate delivers a persisted WorkflowExecution to blockclear as the
// ApiServerSource adapter does: a Resource-mode update event.
func sendUpdate(t *testing.T, blockclear, id string, obj []byte) {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("https://10.96.0.1:443")
	e.SetType("dev.knative.apiserver.resource.update")
	require.NoError(t, e.SetData(cloudevents.ApplicationJSON, obj))
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), blockclear, e)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
}

// A clearance stamped by the webhook lands, once the ApiServerSource shows it
// persisted, as one audit event with the verified user as actor; a replayed
// admission call and a second update event still leave exactly one row.
func TestBlockClearanceIsAuditedExactlyOnce(t *testing.T) {
	db := testenv.NewDB(t)
	col := collector(t, db, procs.FreeAddr(t))
	bc := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), map[string]string{
		"AUDITFN_FUNCTION": "blockclear", "K_SINK": col.URL()})

	var review admissionv1.AdmissionReview
	for range 2 {
		resp, err := http.Post(bc.URL()+"/mutate-workflowexecution", "application/json",
			bytes.NewReader(reviewBody(`{"clearReason":"root cause fixed in PR 1234","clearedBy":"mallory"}`)))
		require.NoError(t, err)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&review))
		resp.Body.Close()
		require.True(t, review.Response.Allowed, review.Response.Result)
	}
	var patch []struct {
		Value json.RawMessage `json:"value"`
	}
	require.NoError(t, json.Unmarshal(review.Response.Patch, &patch))

	// The ApiServerSource sees the persisted object, clearance included, on
	// this update and on every later one.
	for i := range 2 {
		sendUpdate(t, bc.URL(), "apiserver-"+strconv.Itoa(i), []byte(sprintf(wfe, `,"blockClearance":`+string(patch[0].Value))))
	}

	query := "audit.audit_events WHERE event_type = 'workflowexecution.block.cleared' AND correlation_id = 'rr-payments-oom-1'"
	require.Eventually(t, func() bool { return db.Count(t, query) == 1 && duplicates(t, col) >= 1 }, 10*time.Second, 20*time.Millisecond,
		"both update events reached the collector")
	assert.Equal(t, int64(1), db.Count(t, query))
	assert.Equal(t, "alice@example.com", db.Scalar(t, "SELECT actor_id FROM "+query))
	assert.Equal(t, "u-4242", db.Scalar(t, "SELECT event_data->>'clearedByUID' FROM "+query))
	assertChainIntact(t, db)
}
