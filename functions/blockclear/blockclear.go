// Package blockclear clears PreviousExecutionFailed blocks on
// WorkflowExecutions with a verified operator identity (BR-WE-013, Option A):
// a mutating admission webhook records who cleared the block, why, how and
// when on status.blockClearance and emits workflowexecution.block.cleared;
// ApiServerSource update events catch up on any clearance whose event was
// missed, and a periodic reconcile (a PingSource) on any that both missed.
// Nothing is ever deleted.
package blockclear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"function/shared/config"
	"function/shared/emitter"
	"function/shared/httpjson"
	"function/shared/kubeapi"
	"function/shared/lifecycle"
	"function/shared/pgtext"
	"function/shared/problem"
)

// WebhookPath is where the API server sends AdmissionReviews.
const WebhookPath = "/mutate-workflowexecution"

// ResourceUpdate is the ApiServerSource event type (Resource mode) carrying
// the whole updated object.
const ResourceUpdate = "dev.knative.apiserver.resource.update"

// maxReviewBytes bounds an AdmissionReview: an object and its old version.
const maxReviewBytes = 6 << 20

// Function is the blockclear function.
type Function struct {
	// Its state is the audit emitter, once started.
	*lifecycle.State[emitter.Emitter]
	now     func() time.Time
	cleared *prometheus.CounterVec
	stamped *stamped
	// The reconcile: nil kube outside a cluster.
	kube      *kubeapi.Client
	namespace string        // whose WorkflowExecutions it lists
	window    time.Duration // how far back it looks
}

// New returns the function; Start connects its emitter.
func New() *Function {
	f := &Function{
		State:   lifecycle.New[emitter.Emitter]("blockclear"),
		now:     time.Now,
		stamped: newStamped(10 * time.Minute),
		cleared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_blockclear_decisions_total",
			Help: "Admission decisions on WorkflowExecution updates (stamped: a clearance admitted, audited once seen persisted), and clearances recorded from cluster events or reconciled.",
		}, []string{"decision"}),
	}
	f.Registry().MustRegister(f.cleared)
	return f
}

// Start connects the audit emitter and, in a cluster, the API client the
// reconcile lists WorkflowExecutions with.
func (f *Function) Start(_ context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	window, err := c.Duration(SettingReconcileWindow, 7*24*time.Hour)
	if err != nil {
		return err
	}
	// Without the API the webhook still works; only pings answer 503, which
	// the PingSource's failed deliveries make visible.
	namespace := c[SettingReconcileNamespace]
	kube, err := kubeapi.FromSettings(c)
	if err == nil && namespace == "" {
		namespace, err = kubeapi.InClusterNamespace()
	}
	switch {
	case errors.Is(err, kubeapi.ErrNotInCluster):
		f.Log.Info("not in a cluster: pings will not reconcile block clearances")
	case err != nil:
		f.Log.Error("pings will not reconcile block clearances: no API access", "err", err)
		kube = nil
	}
	em, err := emitter.FromConfig(c, f.Registry(), f.Log)
	if err != nil {
		return err
	}
	f.kube, f.namespace, f.window = kube, namespace, window
	f.Store(em)
	return nil
}

// Stop flushes the audit events still buffered. The emitter stays stored:
// a request after Stop still finds it, and it drops the event.
func (f *Function) Stop(ctx context.Context) error {
	if em := f.Load(); em != nil {
		return em.Close(ctx)
	}
	return nil
}

// Handle serves the webhook and receives cluster events on POST /.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, http.StatusMethodNotAllowed, "blockclear accepts POST "+WebhookPath+" and CloudEvents on POST /")
	case r.URL.Path == WebhookPath:
		f.review(w, r)
	case r.URL.Path == "/":
		f.catchUp(w, r)
	default:
		problem.Write(w, http.StatusNotFound, "blockclear accepts POST "+WebhookPath+" and CloudEvents on POST /")
	}
}

// review answers an AdmissionReview. Even a malformed one gets an
// AdmissionReview back, denying, so the API server shows the reason.
func (f *Function) review(w http.ResponseWriter, r *http.Request) {
	var in admissionv1.AdmissionReview
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err == nil && in.Request == nil {
		err = errors.New("request is missing")
	}
	// An API server sends only valid UTF-8, which encoding/json does not
	// check: it would have turned anything else into U+FFFD unseen.
	if err == nil {
		if field, found := pgtext.BadJSONUTF8("", body); found {
			err = fmt.Errorf("%s %s", field, pgtext.Message)
		}
	}
	var out *admissionv1.AdmissionReview
	if err != nil {
		f.cleared.WithLabelValues("malformed").Inc()
		out = respond("", deny(http.StatusBadRequest, "malformed AdmissionReview: %v", err))
	} else {
		d := admit(in.Request, f.now())
		switch {
		case d.cleared != nil:
			if in.Request.DryRun == nil || !*in.Request.DryRun {
				f.stamped.remember(d.wfe, d.cleared, f.now())
			}
			f.cleared.WithLabelValues("stamped").Inc()
			f.Log.Info("block clearance stamped; audited once persisted", "wfe", in.Request.Namespace+"/"+in.Request.Name,
				"by", in.Request.UserInfo.Username, "dry_run", in.Request.DryRun != nil && *in.Request.DryRun)
		case !d.allowed:
			f.cleared.WithLabelValues("denied").Inc()
			f.Log.Info("clearance denied", "uid", in.Request.UID, "user", in.Request.UserInfo.Username, "reason", d.message)
		default:
			f.cleared.WithLabelValues("allowed").Inc()
		}
		out = respond(in.Request.UID, d)
	}
	httpjson.Write(w, http.StatusOK, out)
}

// catchUp emits the audit event of a clearance recorded on an updated
// WorkflowExecution: the object as the API server persisted it, so the
// event claims only a clearance that took effect. Every later update of the
// object carries the clearance again, with the same event id (the object's
// uid and clearedAt), so the collector keeps one copy.
func (f *Function) catchUp(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxReviewBytes)
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		problem.Write(w, http.StatusBadRequest, "not a CloudEvent", problem.FieldError{Field: "body", Message: err.Error()})
		return
	}
	switch e.Type() {
	case ResourceUpdate:
	case PingType:
		f.reconcileNow(w, r)
		return
	default:
		w.WriteHeader(http.StatusAccepted) // not ours to act on
		return
	}
	var wfe WorkflowExecution
	if err := json.Unmarshal(e.Data(), &wfe); err != nil {
		problem.Write(w, http.StatusBadRequest, "event data is not a Kubernetes object", problem.FieldError{Field: "data", Message: err.Error()})
		return
	}
	bc := wfe.Status.BlockClearance
	if wfe.Kind != "WorkflowExecution" || bc == nil || bc.ClearedBy == "" || bc.ClearedAt.IsZero() {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if wfe.UID == "" {
		problem.Write(w, http.StatusBadRequest, "WorkflowExecution has no uid", problem.FieldError{Field: "data.metadata.uid", Message: "is required"})
		return
	}
	f.stamped.complete(&wfe)
	ev, err := auditEvent(&wfe)
	if err != nil {
		problem.Write(w, http.StatusBadRequest, "cannot build the audit event", problem.FieldError{Field: "data", Message: err.Error()})
		return
	}
	f.Load().Emit(ev)
	f.cleared.WithLabelValues("recorded").Inc()
	w.WriteHeader(http.StatusAccepted)
}

// reconcileNow answers a ping with a reconcile: 202 once every clearance in
// the window is emitted, 503 (so the delivery is retried) if listing failed.
func (f *Function) reconcileNow(w http.ResponseWriter, r *http.Request) {
	if f.kube == nil {
		problem.Write(w, http.StatusServiceUnavailable, "not in a Kubernetes cluster: nothing to reconcile")
		return
	}
	n, err := f.reconcile(r.Context(), f.now().Add(-f.window), f.Load().Emit)
	f.cleared.WithLabelValues("reconciled").Add(float64(n))
	if err != nil {
		f.Log.Error("reconcile", "err", err, "emitted", n)
		problem.Write(w, http.StatusServiceUnavailable, "reconcile failed; see the function's log")
		return
	}
	f.Log.Info("block clearances reconciled", "emitted", n, "window", f.window.String())
	w.WriteHeader(http.StatusAccepted)
}
