// Package validate is HAPI's post-selection validation re-query:
// GET /api/v1/workflows/{workflow_id}/validate re-checks that the selected
// workflow is still discoverable for the signal context; POST with
// {"parameters":{...}} also checks proposed parameters against the
// workflow's parameter schema.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"function/shared/auditevent"
	"function/shared/discovery"
	"function/shared/httpjson"
	"function/shared/pgtext"
	"function/shared/problem"
)

const (
	prefix  = "/api/v1/workflows/"
	suffix  = "/validate"
	maxBody = 1 << 20
	// Every name proposed is answered and audited: these bounds keep the
	// audit event within what the collector accepts.
	maxParameters = 100
	maxNameLen    = 253
)

// Function is the validation re-query.
type Function struct{ *discovery.Base }

// New returns the function; Start connects it.
func New() *Function { return &Function{discovery.NewBase("validate")} }

type response struct {
	Valid      bool                   `json:"valid"`
	WorkflowID string                 `json:"workflowId"`
	Errors     []discovery.ParamError `json:"errors"`
}

type body struct {
	Parameters json.RawMessage `json:"parameters"`
}

// Handle answers the re-query and emits workflow.catalog.selection_validated.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rawID, ok := strings.CutPrefix(r.URL.Path, prefix)
	rawID, ok2 := strings.CutSuffix(rawID, suffix)
	c, caller := f.Accept(w, r, ok && ok2 && !strings.Contains(rawID, "/"), "GET and POST "+prefix+"{workflow_id}"+suffix, http.MethodGet, http.MethodPost)
	if c == nil {
		return
	}
	req, errs := discovery.Parse(r.URL.Query(), discovery.GetStep)
	id, idErr := discovery.ParseWorkflowID(rawID)
	if idErr != nil {
		errs = append(errs, *idErr)
	}
	var params json.RawMessage
	if r.Method == http.MethodPost {
		var status int
		params, status, errs = readParameters(w, r, errs)
		if status == http.StatusRequestEntityTooLarge {
			problem.Write(w, status, "request body is over 1 MiB")
			f.Observe(status, start)
			return
		}
	}
	if len(errs) > 0 {
		f.Refuse(w, start, errs)
		return
	}

	wf, gate := discovery.Gate(c, id, req)
	event := auditevent.SelectionValidated{
		RemediationID: req.RemediationID, WorkflowID: id.String(), SignalContext: req.SignalContext(),
		SecurityGateResult: gate, ValidationResult: auditevent.Invalid,
		ParameterValidation: auditevent.ParameterValidation{ValidationErrors: []string{}},
	}
	if gate != auditevent.GatePass {
		event.QueryDurationMs = discovery.Since(start)
		discovery.NotFound(w)
		f.Audit(r, caller, event)
		f.Observe(http.StatusNotFound, start)
		return
	}
	event.WorkflowName, event.ActionType, event.Version = wf.WorkflowName, wf.ActionType, wf.Version
	resp := response{Valid: true, WorkflowID: id.String(), Errors: []discovery.ParamError{}}
	if params != nil {
		resp.Errors, event.ParameterValidation = discovery.ValidateParameters(wf, params)
		resp.Valid = len(resp.Errors) == 0
	} else {
		event.ParameterValidation.TotalParameters = discovery.CountParameters(wf)
	}
	if resp.Valid {
		event.ValidationResult = auditevent.Valid
	}
	event.QueryDurationMs = discovery.Since(start)
	httpjson.Write(w, http.StatusOK, resp)
	f.Audit(r, caller, event)
	f.Observe(http.StatusOK, start)
}

// readParameters reads {"parameters":{...}}, at most 1 MiB.
func readParameters(w http.ResponseWriter, r *http.Request, errs []problem.FieldError) (json.RawMessage, int, []problem.FieldError) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var b body
	err := dec.Decode(&b)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, errs
	case err != nil:
		return nil, http.StatusBadRequest, append(errs, problem.FieldError{Field: "body", Message: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")})
	case len(b.Parameters) == 0 || b.Parameters[0] != '{':
		return nil, http.StatusBadRequest, append(errs, problem.FieldError{Field: "parameters", Message: `must be a JSON object of parameter values`})
	}
	// encoding/json would quietly decode invalid UTF-8 as U+FFFD, and a NUL
	// in a parameter name would make the audit event unstorable.
	if field, found := pgtext.BadJSON("parameters", b.Parameters); found {
		return nil, http.StatusBadRequest, append(errs, problem.FieldError{Field: field, Message: pgtext.Message})
	}
	var given map[string]json.RawMessage
	_ = json.Unmarshal(b.Parameters, &given) // an object: the decoder has read it
	if len(given) > maxParameters {
		return nil, http.StatusBadRequest, append(errs, problem.FieldError{Field: "parameters", Message: fmt.Sprintf("at most %d parameters", maxParameters)})
	}
	for name := range given {
		if len(name) > maxNameLen {
			return nil, http.StatusBadRequest, append(errs, problem.FieldError{Field: "parameters", Message: fmt.Sprintf("parameter names are at most %d characters", maxNameLen)})
		}
	}
	return b.Parameters, http.StatusOK, errs
}
