// Package blockclear clears PreviousExecutionFailed blocks on
// WorkflowExecutions with a verified operator identity (BR-WE-013, Option A):
// a mutating admission webhook records who cleared the block, why, how and
// when on status.blockClearance and emits workflowexecution.block.cleared;
// ApiServerSource update events catch up on any clearance whose event was
// missed. Nothing is ever deleted.
package blockclear

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"function/shared/config"
	"function/shared/emitter"
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
	log      *slog.Logger
	registry *prometheus.Registry
	emitter  atomic.Pointer[emitter.Emitter]
	now      func() time.Time
	stamps   *stamps
	cleared  *prometheus.CounterVec
}

// New returns the function; Start connects its emitter.
func New() *Function {
	f := &Function{
		log:      slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "blockclear"),
		registry: prometheus.NewRegistry(),
		now:      time.Now,
		stamps:   newStamps(10 * time.Minute),
		cleared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_blockclear_decisions_total",
			Help: "Admission decisions on WorkflowExecution updates and clearances caught up from cluster events.",
		}, []string{"decision"}),
	}
	f.registry.MustRegister(f.cleared)
	return f
}

// Registry holds the function's metrics.
func (f *Function) Registry() *prometheus.Registry { return f.registry }

// Start connects the audit emitter.
func (f *Function) Start(_ context.Context, cfg map[string]string) error {
	em, err := emitter.FromConfig(config.Config(cfg), f.registry, f.log)
	if err != nil {
		return err
	}
	f.emitter.Store(em)
	return nil
}

// Stop flushes the audit events still buffered.
func (f *Function) Stop(ctx context.Context) error {
	if em := f.emitter.Load(); em != nil {
		return em.Close(ctx)
	}
	return nil
}

// Ready is true once the emitter runs.
func (f *Function) Ready(context.Context) (bool, error) { return f.emitter.Load() != nil, nil }

// Alive is true while the process serves.
func (f *Function) Alive(context.Context) (bool, error) { return true, nil }

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
	var out *admissionv1.AdmissionReview
	if err != nil {
		f.cleared.WithLabelValues("malformed").Inc()
		out = respond("", deny(http.StatusBadRequest, "malformed AdmissionReview: %v", err))
	} else {
		d := admit(in.Request, f.stamps, f.now())
		switch {
		case d.event != nil:
			f.emitter.Load().Emit(*d.event)
			f.cleared.WithLabelValues("cleared").Inc()
			f.log.Info("block cleared", "wfe", d.event.Subject, "by", d.event.ActorID, "event", d.event.ID)
		case !d.allowed:
			f.cleared.WithLabelValues("denied").Inc()
			f.log.Info("clearance denied", "uid", in.Request.UID, "user", in.Request.UserInfo.Username, "reason", d.message)
		default:
			f.cleared.WithLabelValues("allowed").Inc()
		}
		out = respond(in.Request.UID, d)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// catchUp emits the audit event of a clearance recorded on an updated
// WorkflowExecution. Its id is the webhook's, so if the webhook's event
// landed, the collector stores this one as a duplicate: nothing twice.
func (f *Function) catchUp(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxReviewBytes)
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		problem.Write(w, http.StatusBadRequest, "not a CloudEvent", problem.FieldError{Field: "body", Message: err.Error()})
		return
	}
	if e.Type() != ResourceUpdate {
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
	ev, err := auditEvent(&wfe)
	if err != nil {
		problem.Write(w, http.StatusBadRequest, "cannot build the audit event", problem.FieldError{Field: "data", Message: err.Error()})
		return
	}
	f.emitter.Load().Emit(ev)
	f.cleared.WithLabelValues("caught_up").Inc()
	w.WriteHeader(http.StatusAccepted)
}
