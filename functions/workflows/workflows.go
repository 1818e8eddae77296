// Package workflows is discovery step 2: GET
// /api/v1/workflows/actions/{action_type} lists the active workflows of an
// action type that match the signal context, best first. Scores are audited,
// never answered.
package workflows

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/discovery"
	"function/shared/httpjson"
)

// Prefix is the path prefix this function serves; the action type follows.
const Prefix = "/api/v1/workflows/actions/"

// Function is step 2.
type Function struct{ *discovery.Base }

// New returns the function; Start connects it.
func New() *Function { return &Function{discovery.NewBase("workflows")} }

// listed is one workflow as answered to HAPI (Data Storage's
// WorkflowDiscoveryEntry): no score. The display name is metadata.name.
type listed struct {
	WorkflowID         string              `json:"workflowId"`
	WorkflowName       string              `json:"workflowName"`
	Name               string              `json:"name"`
	Description        catalog.Description `json:"description"`
	Version            string              `json:"version"`
	SchemaVersion      string              `json:"schemaVersion"`
	ExecutionBundle    string              `json:"executionBundle,omitempty"`
	ExecutionEngine    string              `json:"executionEngine,omitempty"` // an enum: left out rather than ""
	ServiceAccountName string              `json:"serviceAccountName,omitempty"`
}

type response struct {
	ActionType string                `json:"actionType"`
	Workflows  []listed              `json:"workflows"`
	Pagination auditevent.Pagination `json:"pagination"`
}

// Handle answers step 2 and emits workflow.catalog.workflows_listed.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	actionType, ok := strings.CutPrefix(r.URL.Path, Prefix)
	c, caller := f.Accept(w, r, ok && !strings.Contains(actionType, "/"), "GET "+Prefix+"{action_type}", http.MethodGet)
	if c == nil {
		return
	}
	req, errs := discovery.Parse(r.URL.Query(), discovery.ListStep)
	if bad := discovery.CheckActionType(actionType); bad != nil {
		errs = append(errs, *bad)
	}
	if len(errs) > 0 {
		f.Refuse(w, start, errs)
		return
	}
	page, total := c.ListWorkflows(actionType, req.Filter, req.Offset, req.Limit)
	pagination := discovery.Pagination(req.Offset, req.Limit, total)
	out := make([]listed, len(page))
	audited := make([]auditevent.ListedWorkflow, len(page))
	for i, rw := range page {
		wf := rw.Workflow
		out[i] = listed{WorkflowID: wf.WorkflowID.String(), WorkflowName: wf.WorkflowName, Name: wf.WorkflowName,
			Description: wf.Description, Version: wf.Version, SchemaVersion: discovery.SchemaVersion,
			ExecutionBundle: wf.Execution.Bundle, ExecutionEngine: wf.Execution.Engine,
			ServiceAccountName: wf.Execution.ServiceAccountName}
		owner, maintainer := discovery.Owner(wf)
		audited[i] = auditevent.ListedWorkflow{WorkflowID: wf.WorkflowID.String(), WorkflowName: wf.WorkflowName,
			Version: wf.Version, Title: wf.WorkflowName, Description: wf.Description, Labels: labels(wf),
			Owner: owner, Maintainer: maintainer, ContentHash: wf.ContentHash, Rank: rw.Rank, FinalScore: rw.Score}
	}
	elapsed := discovery.Since(start)
	httpjson.Write(w, http.StatusOK, response{ActionType: actionType, Workflows: out, Pagination: pagination})
	f.Audit(r, caller, auditevent.WorkflowsListed{
		RemediationID: req.RemediationID, SignalContext: req.SignalContext(), ActionType: actionType,
		ResultCount: len(page), ActionTypes: []string{actionType}, Workflows: audited,
		Pagination: pagination, QueryDurationMs: elapsed,
	})
	f.Observe(http.StatusOK, start)
}

// labels is every label of a workflow, for the audit record (BR-AUDIT-027).
func labels(wf *catalog.Workflow) map[string]any {
	all := map[string]any{}
	b, _ := json.Marshal(wf.Labels)
	_ = json.Unmarshal(b, &all)
	if len(wf.CustomLabels) > 0 {
		all["customLabels"] = wf.CustomLabels
	}
	if len(wf.DetectedLabels) > 0 {
		all["detectedLabels"] = wf.DetectedLabels // as the document wrote them
	}
	return all
}
