package blockclear

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"function/shared/auditevent"
	"function/shared/kubeapi"
)

// PingType is the CloudEvent type a Knative PingSource sends: here, the
// trigger of a reconcile.
const PingType = "dev.knative.sources.ping"

// SettingReconcileWindow is how far back a reconcile looks: clearances made
// longer ago than this are not emitted again (default a week).
const SettingReconcileWindow = "AUDITFN_BLOCKCLEAR_RECONCILE_WINDOW"

// SettingReconcileNamespace is the namespace whose WorkflowExecutions a
// reconcile lists: by default the function's own, which is the one the
// ApiServerSource watches; "*" lists every namespace (and needs a
// ClusterRole instead of infra's Role).
const SettingReconcileNamespace = "AUDITFN_BLOCKCLEAR_RECONCILE_NAMESPACE"

// workflowExecutions is the API path listing the WorkflowExecutions of
// namespace ns, or of all for "*".
func workflowExecutions(ns string) string {
	return kubeapi.KubernautCollection(ns, "workflowexecutions")
}

// maxReconciled bounds the events one reconcile emits, newest clearances
// first: at half the emitter's default buffer, a flood of old clearances
// cannot push out a fresh clearance's event waiting to be sent. Clearances are made by
// people; a week of them is far fewer.
var maxReconciled = 5000

// reconcile emits the audit event of every clearance recorded on a
// WorkflowExecution within the window. ApiServerSource sends nothing for
// objects that changed while it was not running, so a clearance whose
// update event was lost would otherwise never be audited; the event ids are
// those of the update events, so the collector keeps one copy of each.
func (f *Function) reconcile(ctx context.Context, since time.Time, emit func(auditevent.Event)) (int, error) {
	var found []auditevent.Event
	err := f.kube.List(ctx, workflowExecutions(f.namespace), func(item json.RawMessage) error {
		var w WorkflowExecution
		if err := json.Unmarshal(item, &w); err != nil {
			return err
		}
		if !recorded(&w) || w.Status.BlockClearance.ClearedAt.Time.Before(since) {
			return nil
		}
		f.stamped.complete(&w)
		ev, err := auditEvent(&w)
		if err != nil {
			f.Log.Error("reconcile: cannot build the audit event", "wfe", w.Namespace+"/"+w.Name, "err", err)
			return nil
		}
		found = append(found, ev)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list WorkflowExecutions: %w", err)
	}
	slices.SortStableFunc(found, func(a, b auditevent.Event) int { return b.Time.Compare(a.Time) })
	if len(found) > maxReconciled {
		f.Log.Warn("reconcile: more clearances in the window than one pass emits; only the newest are; narrow "+SettingReconcileWindow,
			"found", len(found), "emitted", maxReconciled)
		found = found[:maxReconciled]
	}
	for _, ev := range found {
		emit(ev)
	}
	return len(found), nil
}

// recorded tells whether w carries a clearance the webhook completed.
func recorded(w *WorkflowExecution) bool {
	bc := w.Status.BlockClearance
	return bc != nil && bc.ClearedBy != "" && !bc.ClearedAt.IsZero() && w.UID != ""
}
