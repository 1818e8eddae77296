package blockclear

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"function/shared/auditevent"
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
	if ns == "*" {
		return "/apis/kubernaut.ai/v1alpha1/workflowexecutions"
	}
	return "/apis/kubernaut.ai/v1alpha1/namespaces/" + url.PathEscape(ns) + "/workflowexecutions"
}

// listPage is how many WorkflowExecutions one list request asks for.
const listPage = 500

// maxReconciled bounds the events one reconcile emits, newest clearances
// first: at half the emitter's default buffer, a flood of old clearances
// cannot push out a webhook event waiting to be sent. Clearances are made by
// people; a week of them is far fewer.
var maxReconciled = 5000

// reconcile emits the audit event of every clearance recorded on a
// WorkflowExecution within the window. ApiServerSource sends nothing for
// objects that changed while it was not running, so a clearance whose
// webhook event was also lost would otherwise never be audited; the event
// ids are the webhook's, so the collector keeps one copy of each.
func (f *Function) reconcile(ctx context.Context, since time.Time, emit func(auditevent.Event)) (int, error) {
	var found []auditevent.Event
	for next := ""; ; {
		path := fmt.Sprintf("%s?limit=%d", workflowExecutions(f.namespace), listPage)
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []WorkflowExecution `json:"items"`
		}
		if err := f.kube.Do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return 0, fmt.Errorf("list WorkflowExecutions: %w", err)
		}
		for i := range page.Items {
			w := &page.Items[i]
			if !recorded(w) || w.Status.BlockClearance.ClearedAt.Time.Before(since) {
				continue
			}
			ev, err := auditEvent(w)
			if err != nil {
				f.log.Error("reconcile: cannot build the audit event", "wfe", w.Namespace+"/"+w.Name, "err", err)
				continue
			}
			found = append(found, ev)
		}
		if next = page.Metadata.Continue; next == "" {
			break
		}
	}
	slices.SortStableFunc(found, func(a, b auditevent.Event) int { return b.Time.Compare(a.Time) })
	if len(found) > maxReconciled {
		f.log.Warn("reconcile: more clearances in the window than one pass emits; only the newest are; narrow "+SettingReconcileWindow,
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
