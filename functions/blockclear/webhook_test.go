package blockclear

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"function/shared/auditevent"
)

var now = time.Date(2026, 11, 23, 14, 5, 6, 789000000, time.UTC)

// failedWFE is a realistic blocked WorkflowExecution.
func failedWFE() WorkflowExecution {
	return WorkflowExecution{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubernaut.ai/v1alpha1", Kind: "WorkflowExecution"},
		ObjectMeta: metav1.ObjectMeta{Name: "wfe-payments-api-7f9c", Namespace: "payments",
			UID: "3c1e0d8a-2b4f-4a6e-9c7d-1e2f3a4b5c6d", ResourceVersion: "48121"},
		Spec: Spec{
			WorkflowRef:           WorkflowRef{WorkflowID: "6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b", Version: "1.2.0"},
			TargetResource:        "payments/Deployment/api",
			RemediationRequestRef: &ObjectRef{Name: "rr-payments-oom-20261123", Namespace: "kubernaut"},
		},
		Status: Status{Phase: PhaseFailed, FailureDetails: &FailureDetails{
			Reason: "TaskFailed", Message: "step scale-up exited 1", WasExecutionFailure: true,
			FailedAt: metav1.NewTime(time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC))}},
	}
}

func raw(w WorkflowExecution) runtime.RawExtension {
	b, _ := json.Marshal(w) // plain structs: cannot fail
	return runtime.RawExtension{Raw: b}
}

func alice() authnv1.UserInfo {
	return authnv1.UserInfo{Username: "alice@example.com", UID: "u-4242", Groups: []string{"sre", "system:authenticated"}}
}

func request(old, obj WorkflowExecution, user authnv1.UserInfo) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		UID:         "a1b2c3d4-0000-4000-8000-000000000001",
		Kind:        metav1.GroupVersionKind{Group: "kubernaut.ai", Version: "v1alpha1", Kind: "WorkflowExecution"},
		Resource:    metav1.GroupVersionResource{Group: "kubernaut.ai", Version: "v1alpha1", Resource: "workflowexecutions"},
		SubResource: "status",
		Name:        obj.Name, Namespace: obj.Namespace,
		Operation: admissionv1.Update,
		UserInfo:  user,
		Object:    raw(obj),
		OldObject: raw(old),
	}
}

func withClearance(bc BlockClearance) WorkflowExecution {
	w := failedWFE()
	w.Status.BlockClearance = &bc
	return w
}

func TestAClearanceIsRecordedWithTheVerifiedIdentity(t *testing.T) {
	// The request forges who and when; the webhook replaces both.
	obj := withClearance(BlockClearance{ClearReason: "  root cause fixed in PR 1234  ", ClearedBy: "mallory",
		ClearedAt: metav1.NewTime(now.Add(-24 * time.Hour))})
	d := admit(request(failedWFE(), obj, alice()), now)
	require.True(t, d.allowed, d.message)
	require.Len(t, d.patch, 1)
	assert.Equal(t, "add", d.patch[0].Op)
	assert.Equal(t, "/status/blockClearance", d.patch[0].Path)
	bc := d.patch[0].Value.(*BlockClearance)
	assert.Equal(t, "alice@example.com", bc.ClearedBy)
	assert.Equal(t, "u-4242", bc.ClearedByUID)
	assert.Equal(t, []string{"sre", "system:authenticated"}, bc.ClearedByGroups)
	assert.Equal(t, now.Truncate(time.Second), bc.ClearedAt.Time)
	assert.Equal(t, "root cause fixed in PR 1234", bc.ClearReason)
	assert.Equal(t, MethodStatusField, bc.ClearMethod)

	// Once the API server has persisted it, the object carries the
	// clearance, and that is what is audited.
	persisted := withClearance(*bc)
	ev, err := auditEvent(&persisted)
	require.NoError(t, err)
	assert.Equal(t, auditevent.TypeBlockCleared, ev.Type)
	assert.Equal(t, EventID("3c1e0d8a-2b4f-4a6e-9c7d-1e2f3a4b5c6d", now.Truncate(time.Second)), ev.ID)
	assert.Equal(t, "user", ev.ActorType)
	assert.Equal(t, "alice@example.com", ev.ActorID)
	assert.Equal(t, "rr-payments-oom-20261123", ev.CorrelationID)
	assert.Equal(t, "payments/wfe-payments-api-7f9c", ev.Subject)
	var p auditevent.BlockCleared
	require.NoError(t, json.Unmarshal(ev.Data, &p))
	assert.Equal(t, "TaskFailed", p.PreviousFailure.Reason)
	assert.Equal(t, "payments/Deployment/api", p.TargetResource)
	assert.Equal(t, "6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b", p.WorkflowID)
	assert.NotContains(t, string(ev.Data), "mallory")
}

func TestDecisions(t *testing.T) {
	cleared := BlockClearance{ClearedBy: "alice@example.com", ClearedAt: metav1.NewTime(now.Add(-time.Hour).Truncate(time.Second)),
		ClearReason: "root cause fixed in PR 1234", ClearMethod: MethodStatusField}
	running := failedWFE()
	running.Status.Phase = "Running"
	runningClear := withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"})
	runningClear.Status.Phase = "Running"
	annotated := failedWFE()
	annotated.Annotations = map[string]string{LegacyAnnotation: "admin@kubernaut.ai: trust me"}
	conditions := failedWFE()
	conditions.Status.FailureDetails.Message = "updated by the controller"
	rewritten := cleared
	rewritten.ClearedBy = "mallory"
	noUID := withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"})
	noUID.UID = ""
	nulTarget := withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"})
	nulTarget.Spec.TargetResource = "payments/Deployment/\x00api"
	nulUser := alice()
	nulUser.Groups = []string{"sre", "system:\x00masters"}

	cases := []struct {
		name     string
		old, obj WorkflowExecution
		user     authnv1.UserInfo
		allowed  bool
		code     int32
		message  string
	}{
		{"status update not touching the clearance", failedWFE(), conditions, alice(), true, 0, ""},
		{"unstamped clearance left as it was", withClearance(BlockClearance{}), withClearance(BlockClearance{}), alice(), true, 0, ""},
		{"empty blockClearance", failedWFE(), withClearance(BlockClearance{}), alice(), false, 400, "clearReason must say why"},
		{"blockClearance of empty strings and lists", failedWFE(), withClearance(BlockClearance{ClearedByGroups: []string{}}), alice(), false, 400, "clearReason must say why"},
		{"unchanged existing clearance", withClearance(cleared), withClearance(cleared), alice(), true, 0, ""},
		{"no verified user", failedWFE(), withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"}), authnv1.UserInfo{}, false, 403, "no user identity"},
		{"empty reason", failedWFE(), withClearance(BlockClearance{ClearMethod: MethodStatusField}), alice(), false, 400, "clearReason"},
		{"short reason", failedWFE(), withClearance(BlockClearance{ClearReason: " fixed   "}), alice(), false, 400, "at least 10"},
		{"not failed", running, runningClear, alice(), false, 403, `phase is "Running"`},
		{"unknown method", failedWFE(), withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234", ClearMethod: "Telepathy"}), alice(), false, 400, "clearMethod"},
		{"overwrite by another user", withClearance(cleared), withClearance(rewritten), alice(), false, 403, "already cleared by alice@example.com"},
		{"removal of a clearance", withClearance(cleared), failedWFE(), alice(), false, 403, "cannot be changed or removed"},
		{"legacy annotation", failedWFE(), annotated, alice(), false, 403, "--subresource=status"},
		{"object without uid", failedWFE(), noUID, alice(), false, 400, "metadata.uid"},
		{"overlong reason", failedWFE(), withClearance(BlockClearance{ClearReason: strings.Repeat("é", 1025)}), alice(), false, 400, "longer than 1024"},
		{"NUL in the reason", failedWFE(), withClearance(BlockClearance{ClearReason: "root cause \x00 fixed in PR 1234"}), alice(), false, 400,
			"request.object.status.blockClearance.clearReason must be valid UTF-8"},
		{"NUL in the object", failedWFE(), nulTarget, alice(), false, 400, "request.object.spec.targetResource must be valid UTF-8"},
		{"NUL in the identity", failedWFE(), withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"}), nulUser, false, 400,
			"request.userInfo.groups[1] must be valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := admit(request(c.old, c.obj, c.user), now)
			assert.Equal(t, c.allowed, d.allowed, d.message)
			assert.Equal(t, c.code, d.code)
			assert.Contains(t, d.message, c.message)
			assert.Nil(t, d.patch)
		})
	}
}

// Admitting a clearance, dry run or not, emits nothing: the API server may
// still refuse the update. The persisted object, seen through a cluster
// event, is what is audited, once.
func TestOnlyAPersistedClearanceIsAudited(t *testing.T) {
	var mu sync.Mutex
	var received []string
	var data []byte
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []cloudevents.Event
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
			var err error
			evs, err = cehttp.NewEventsFromHTTPRequest(r)
			assert.NoError(t, err)
		} else if ev, err := cehttp.NewEventFromHTTPRequest(r); assert.NoError(t, err) {
			evs = append(evs, *ev)
		}
		mu.Lock()
		for _, ev := range evs {
			received = append(received, ev.ID())
			data = ev.Data()
		}
		mu.Unlock()
	}))
	defer sink.Close()
	f := New()
	require.NoError(t, f.Start(context.Background(), map[string]string{"K_SINK": sink.URL}))

	var patch []patchOp
	dry := true
	for _, dryRun := range []*bool{&dry, nil} {
		req := request(failedWFE(), withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"}), alice())
		req.DryRun = dryRun
		body, _ := json.Marshal(admissionv1.AdmissionReview{Request: req})
		rec := httptest.NewRecorder()
		f.Handle(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
		var out admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		require.True(t, out.Response.Allowed)
		require.NoError(t, json.Unmarshal(out.Response.Patch, &patch))
	}
	require.Len(t, patch, 1)
	stamped, _ := json.Marshal(patch[0].Value)
	var bc BlockClearance
	require.NoError(t, json.Unmarshal(stamped, &bc))

	// Kubernaut's schema prunes what it does not declare.
	persisted := withClearance(BlockClearance{ClearedAt: bc.ClearedAt, ClearedBy: bc.ClearedBy, ClearReason: bc.ClearReason, ClearMethod: bc.ClearMethod})
	e := cloudevents.NewEvent()
	e.SetID("apiserver-1")
	e.SetSource("https://10.96.0.1:443")
	e.SetType(ResourceUpdate)
	require.NoError(t, e.SetData(cloudevents.ApplicationJSON, persisted))
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), "http://blockclear/", e)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	f.Handle(rec, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.NoError(t, f.Stop(context.Background())) // flushes

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{EventID(string(persisted.UID), bc.ClearedAt.Time).String()}, received,
		"one event, from the persisted object; none from admission")
	var p auditevent.BlockCleared
	require.NoError(t, json.Unmarshal(data, &p))
	assert.Equal(t, "u-4242", p.ClearedByUID, "the stamped identity this webhook remembers completes what the schema pruned")
	assert.Equal(t, []string{"sre", "system:authenticated"}, p.ClearedByGroups)
}

// The HTTP endpoint answers every body with an AdmissionReview, never a panic.
func TestMalformedReviewsGetAnAdmissionReviewBack(t *testing.T) {
	f := New()
	for _, body := range []string{"", "not json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"request":{"uid":"x","kind":{"kind":"WorkflowExecution"},"operation":"UPDATE","object":{"spec":7},"oldObject":{}}}`} {
		rec := httptest.NewRecorder()
		f.Handle(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewBufferString(body)))
		require.Equal(t, http.StatusOK, rec.Code, body)
		var out admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), body)
		require.NotNil(t, out.Response, body)
		assert.False(t, out.Response.Allowed, body)
		assert.Equal(t, int32(400), out.Response.Result.Code, body)
	}
}

// Invalid UTF-8 anywhere in a review (raw, or an unpaired surrogate escape),
// which an API server never sends and encoding/json would quietly turn into
// U+FFFD, denies it naming the field.
func TestInvalidUTF8IsDeniedNamingTheField(t *testing.T) {
	review := admissionv1.AdmissionReview{Request: request(failedWFE(),
		withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"}), alice())}
	good, err := json.Marshal(review)
	require.NoError(t, err)
	for _, c := range []struct{ old, new, field string }{
		{"PR 1234", "PR \xff1234", "request.object.status.blockClearance.clearReason"},
		{"alice@example.com", `alice\udc00@example.com`, "request.userInfo.username"},
	} {
		rec := httptest.NewRecorder()
		New().review(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(bytes.Replace(good, []byte(c.old), []byte(c.new), 1))))
		var out admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		assert.False(t, out.Response.Allowed, c.field)
		assert.Equal(t, int32(400), out.Response.Result.Code, c.field)
		assert.Contains(t, out.Response.Result.Message, c.field+" must be valid UTF-8")
	}
}

// A NUL, which an API server can send (escaped, in an annotation say), only
// denies a clearance: any other update of the object goes through.
func TestANULDeniesOnlyAClearance(t *testing.T) {
	old := failedWFE()
	old.Annotations = map[string]string{"note": "a\x00b"}
	obj := old
	obj.Status.FailureDetails = &FailureDetails{Reason: "TaskFailed", Message: "updated by the controller"}
	d := admit(request(old, obj, alice()), now)
	assert.True(t, d.allowed, d.message)
	obj.Status.BlockClearance = &BlockClearance{ClearReason: "root cause fixed in PR 1234"}
	d = admit(request(old, obj, alice()), now)
	assert.False(t, d.allowed)
	assert.Contains(t, d.message, "request.object.metadata.annotations.note must be valid UTF-8")
}

// FuzzReview feeds arbitrary bodies to the webhook: it must always answer an
// AdmissionReview and never allow with a patch unless a user is named.
func FuzzReview(f *testing.F) {
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: request(failedWFE(), withClearance(BlockClearance{ClearReason: "root cause fixed in PR 1234"}), alice())}
	seed, _ := json.Marshal(review)
	f.Add(seed)
	f.Add(bytes.Replace(seed, []byte("PR 1234"), []byte(`PR \u00001234`), 1))
	f.Add(bytes.Replace(seed, []byte("PR 1234"), []byte("PR \xff\xc0\x801234"), 1))
	f.Add(bytes.Replace(seed, []byte(`"alice@example.com"`), []byte(`"alice\u0000@example.com"`), 1))
	f.Add([]byte(`{"request":{"operation":"UPDATE","kind":{"kind":"WorkflowExecution"}}}`))
	sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer sink.Close()
	fn := New()
	require.NoError(f, fn.Start(f.Context(), map[string]string{"K_SINK": sink.URL}))
	defer fn.Stop(f.Context())
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		fn.review(rec, httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body)))
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("no AdmissionReview answered: %q", rec.Body.String())
		}
		if len(out.Response.Patch) > 0 {
			var in admissionv1.AdmissionReview
			_ = json.Unmarshal(body, &in)
			if in.Request == nil || in.Request.UserInfo.Username == "" {
				t.Fatal("patched a clearance without a verified user")
			}
		}
	})
}
