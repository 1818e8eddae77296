// Package workflow is discovery step 3: GET /api/v1/workflows/{workflow_id}
// returns one workflow in full, behind the security gate: when the caller
// gives a signal context, the workflow must pass the same hard filters as in
// steps 1 and 2, or the answer is the same 404 as for an unknown id.
package workflow

import (
	"net/http"
	"strings"
	"time"

	"function/shared/auditevent"
	"function/shared/discovery"
	"function/shared/httpjson"
)

// Prefix is the path prefix this function serves; the workflow id follows.
const Prefix = "/api/v1/workflows/"

// Function is step 3.
type Function struct{ *discovery.Base }

// New returns the function; Start connects it.
func New() *Function { return &Function{discovery.NewBase("workflow")} }

// Handle answers step 3 and emits workflow.catalog.workflow_retrieved.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rawID, ok := strings.CutPrefix(r.URL.Path, Prefix)
	c, caller := f.Accept(w, r, ok && !strings.Contains(rawID, "/"), "GET "+Prefix+"{workflow_id}", http.MethodGet)
	if c == nil {
		return
	}
	req, errs := discovery.Parse(r.URL.Query(), discovery.GetStep)
	id, idErr := discovery.ParseWorkflowID(rawID)
	if idErr != nil {
		errs = append(errs, *idErr)
	}
	if len(errs) > 0 {
		f.Refuse(w, start, errs)
		return
	}
	wf, gate := discovery.Gate(c, id, req)
	event := auditevent.WorkflowRetrieved{
		RemediationID: req.RemediationID, WorkflowID: id.String(), SignalContext: req.SignalContext(),
		SecurityGateResult: gate,
	}
	status := http.StatusNotFound
	if gate == auditevent.GatePass {
		status = http.StatusOK
		event.WorkflowName, event.ActionType, event.Version = wf.WorkflowName, wf.ActionType, wf.Version
		event.ContentHash, event.ParameterCount = wf.ContentHash, discovery.CountParameters(wf)
	}
	event.QueryDurationMs = discovery.Since(start)
	if status == http.StatusOK {
		httpjson.Write(w, status, answerOf(wf))
	} else {
		discovery.NotFound(w)
	}
	f.Audit(r, caller, event)
	f.Observe(status, start)
}
