// Package catalogsync keeps the workflow catalog following the cluster's
// RemediationWorkflow and ActionType resources, Kubernaut's source of
// truth: an ApiServerSource (Resource mode) on both kinds delivers each
// add, update and delete, and an hourly PingSource triggers a full resync
// that catches whatever the source missed. Documents go through the same
// loader and store as `make catalog`, so a running function sees a change
// as soon as it commits. A deleted workflow is Disabled, never deleted, so
// audit records keep resolving; a document whose status claims another
// identity than auditfn computes is refused and logged, never served.
package catalogsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/shared/config"
	"function/shared/kubeapi"
	"function/shared/lifecycle"
	"function/shared/pgdb"
	"function/shared/problem"
)

// The CloudEvent types this function acts on.
const (
	ResourceAdd    = "dev.knative.apiserver.resource.add"
	ResourceUpdate = "dev.knative.apiserver.resource.update"
	ResourceDelete = "dev.knative.apiserver.resource.delete"
	PingType       = "dev.knative.sources.ping"
)

// SettingNamespace is the namespace whose resources a resync lists: by
// default the function's own, the one the ApiServerSource watches; "*"
// lists every namespace (and needs a ClusterRole instead of infra's Role).
const SettingNamespace = "AUDITFN_CATALOG_NAMESPACE"

// maxObjectBytes bounds one resource in an event.
const maxObjectBytes = 3 << 20

// Function is the catalog sync.
type Function struct {
	// Its state is the PostgreSQL pool, once connected.
	*lifecycle.State[pgxpool.Pool]
	outcomes  *prometheus.CounterVec
	kube      *kubeapi.Client // nil outside a cluster: resyncs answer 503
	namespace string
}

// New returns the function; Start connects it.
func New() *Function {
	f := &Function{
		State: lifecycle.New[pgxpool.Pool]("catalogsync"),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditfn_catalogsync_documents_total",
			Help: "Cluster documents by outcome: stored, disabled, refused (invalid or a claimed identity that differs), ignored.",
		}, []string{"outcome"}),
	}
	f.Registry().MustRegister(f.outcomes)
	return f
}

// Start connects to PostgreSQL as a role that may write the catalog and, in
// a cluster, makes the API client resyncs list with.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	c := config.Config(cfg)
	dsn, err := c.Required(config.PGDSN)
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	namespace := c[SettingNamespace]
	kube, err := kubeapi.FromSettings(c)
	if err == nil && namespace == "" {
		namespace, err = kubeapi.InClusterNamespace()
	}
	switch {
	case errors.Is(err, kubeapi.ErrNotInCluster):
		f.Log.Info("not in a cluster: pings will not resync the catalog")
	case err != nil:
		f.Log.Error("pings will not resync the catalog: no API access", "err", err)
		kube = nil
	}
	f.kube, f.namespace = kube, namespace
	f.Store(pool)
	return nil
}

// Stop disconnects.
func (f *Function) Stop(context.Context) error {
	if p := f.Swap(nil); p != nil {
		p.Close()
	}
	return nil
}

// Handle receives CloudEvents on POST /.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	const usage = "catalogsync receives CloudEvents on POST /"
	switch {
	case r.URL.Path != "/":
		problem.Write(w, http.StatusNotFound, usage)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, http.StatusMethodNotAllowed, usage)
		return
	case f.Load() == nil:
		problem.Write(w, http.StatusServiceUnavailable, "catalogsync is starting")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxObjectBytes)
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem.Write(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a resource is at most %d bytes", maxObjectBytes))
			return
		}
		problem.Write(w, http.StatusBadRequest, "not a CloudEvent", problem.FieldError{Field: "body", Message: err.Error()})
		return
	}
	switch e.Type() {
	case ResourceAdd, ResourceUpdate, ResourceDelete:
		f.apply(w, r.Context(), e.Data(), e.Type() == ResourceDelete)
	case PingType:
		f.resyncNow(w, r.Context())
	default:
		f.outcomes.WithLabelValues("ignored").Inc()
		w.WriteHeader(http.StatusAccepted) // not ours to act on
	}
}

// apply stores one resource of an event: its document as it is, or, when
// it was deleted, Disabled. A bad document is a 4xx naming the field: a
// retry cannot fix it.
func (f *Function) apply(w http.ResponseWriter, ctx context.Context, data []byte, deleted bool) {
	at, wf, err := catalog.Decode(data)
	if err != nil {
		f.refuse(w, http.StatusBadRequest, err)
		return
	}
	var ats []catalog.ActionType
	var wfs []catalog.Workflow
	outcome := "stored"
	switch {
	case at != nil && deleted:
		// Kept: workflows of the catalog, live or Disabled, still name it.
		f.Log.Info("action type deleted in the cluster; kept in the catalog", "actionType", at.Name)
		f.outcomes.WithLabelValues("ignored").Inc()
		w.WriteHeader(http.StatusAccepted)
		return
	case at != nil:
		ats = []catalog.ActionType{*at}
	case deleted:
		wf.Status, outcome = catalog.StatusDisabled, "disabled"
		wfs = []catalog.Workflow{*wf}
	default:
		wfs = []catalog.Workflow{*wf}
	}
	if status, err := f.save(ctx, ats, wfs); err != nil {
		f.refuse(w, status, err)
		return
	}
	f.outcomes.WithLabelValues(outcome).Inc()
	w.WriteHeader(http.StatusAccepted)
}

// save stores documents, with the status to answer when it cannot: 400 for
// an invalid document, 409 for changed content under a published version,
// 503 (retry) for a storage failure.
func (f *Function) save(ctx context.Context, ats []catalog.ActionType, wfs []catalog.Workflow) (int, error) {
	conn, err := f.Load().Acquire(ctx)
	if err != nil {
		return http.StatusServiceUnavailable, err
	}
	defer conn.Release()
	err = catalogstore.Save(ctx, conn.Conn(), ats, wfs)
	_, invalid := errors.AsType[*catalog.LoadError](err)
	switch {
	case err == nil:
		return 0, nil
	case invalid:
		return http.StatusBadRequest, err
	case errors.Is(err, catalogstore.ErrVersionChanged):
		return http.StatusConflict, err
	}
	return http.StatusServiceUnavailable, err
}

// refuse logs a document that was not stored, loudly, and answers.
func (f *Function) refuse(w http.ResponseWriter, status int, err error) {
	if status == http.StatusServiceUnavailable {
		f.Log.Error("catalog not stored, will be retried", "err", err)
		problem.Write(w, status, "catalog not stored, retry")
		return
	}
	f.outcomes.WithLabelValues("refused").Inc()
	f.Log.Error("cluster document refused: not in the catalog", "err", err)
	var fields []problem.FieldError
	if le, ok := errors.AsType[*catalog.LoadError](err); ok && le.Field != "" {
		fields = append(fields, problem.FieldError{Field: "data." + le.Field, Message: le.Err.Error()})
	}
	problem.Write(w, status, err.Error(), fields...)
}

// resyncNow answers a ping with a resync: 202 once the catalog holds the
// cluster's documents, 503 (so the delivery is retried) if it could not.
func (f *Function) resyncNow(w http.ResponseWriter, ctx context.Context) {
	if f.kube == nil {
		problem.Write(w, http.StatusServiceUnavailable, "not in a Kubernetes cluster: nothing to resync")
		return
	}
	n, err := f.resync(ctx)
	if err != nil {
		f.Log.Error("catalog resync", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "resync failed; see the function's log")
		return
	}
	f.Log.Info("catalog resynced", "listed", n)
	w.WriteHeader(http.StatusAccepted)
}

// resync makes the catalog mirror the cluster's ActionTypes and
// RemediationWorkflows, disabling the workflows it no longer has: what
// events missed while this function or the source was down.
// A document that cannot be stored is logged and left out, so one bad
// resource cannot stop the rest.
func (f *Function) resync(ctx context.Context) (int, error) {
	var ats []catalog.ActionType
	var wfs []catalog.Workflow
	for _, resource := range []string{"actiontypes", "remediationworkflows"} {
		err := f.kube.List(ctx, kubeapi.KubernautCollection(f.namespace, resource), func(item json.RawMessage) error {
			at, wf, err := catalog.Decode(item)
			switch {
			case err != nil:
				f.outcomes.WithLabelValues("refused").Inc()
				f.Log.Error("cluster document refused: not in the catalog", "resource", resource, "err", err)
			case at != nil:
				ats = append(ats, *at)
			default:
				wfs = append(wfs, *wf)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", resource, err)
		}
	}
	conn, err := f.Load().Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	refused, err := catalogstore.Mirror(ctx, conn.Conn(), ats, wfs)
	if err != nil {
		return 0, err
	}
	for _, r := range refused {
		f.outcomes.WithLabelValues("refused").Inc()
		f.Log.Error("resync: cluster document refused: not in the catalog", "document", r.Document, "err", r.Err)
	}
	return len(ats) + len(wfs), nil
}
