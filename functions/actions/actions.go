// Package actions is discovery step 1: GET /api/v1/workflows/actions lists
// the action types that have at least one active workflow matching the
// signal context.
package actions

import (
	"net/http"
	"time"

	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/discovery"
	"function/shared/httpjson"
)

// Path is the one path this function serves.
const Path = "/api/v1/workflows/actions"

// Function is step 1.
type Function struct{ *discovery.Base }

// New returns the function; Start connects it.
func New() *Function { return &Function{discovery.NewBase("actions")} }

type response struct {
	ActionTypes []catalog.ActionSummary `json:"actionTypes"`
	Pagination  auditevent.Pagination   `json:"pagination"`
}

// Handle answers step 1 and emits workflow.catalog.actions_listed.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c, caller := f.Accept(w, r, r.URL.Path == Path, "GET "+Path, http.MethodGet)
	if c == nil {
		return
	}
	req, errs := discovery.Parse(r.URL.Query(), discovery.ListStep)
	if len(errs) > 0 {
		f.Refuse(w, start, errs)
		return
	}
	page, total := c.ListActions(req.Filter, req.Offset, req.Limit)
	pagination := discovery.Pagination(req.Offset, req.Limit, total)
	names := make([]string, len(page))
	for i, a := range page {
		names[i] = a.ActionType
	}
	elapsed := discovery.Since(start)
	httpjson.Write(w, http.StatusOK, response{ActionTypes: page, Pagination: pagination})
	f.Audit(r, caller, auditevent.ActionsListed{
		RemediationID: req.RemediationID, SignalContext: req.SignalContext(), ResultCount: len(page),
		ActionTypes: names, Pagination: pagination, QueryDurationMs: elapsed,
	})
	f.Observe(http.StatusOK, start)
}
