package discovery

import (
	"regexp"

	"github.com/google/uuid"

	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/problem"
)

// uuidRE is the canonical textual form; uuid.Parse alone also takes braces,
// "urn:uuid:" and 32 bare hex digits.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseWorkflowID reads the {workflow_id} path segment.
func ParseWorkflowID(s string) (uuid.UUID, *problem.FieldError) {
	if !uuidRE.MatchString(s) {
		return uuid.Nil, &problem.FieldError{Field: "workflow_id", Message: "must be a UUID"}
	}
	return uuid.MustParse(s), nil
}

// Gate is the security gate of step 3 and validate: the discoverable
// workflow with that id, and "pass" only when it exists and, if the caller
// gave a signal context, passes the hard filters of steps 1 and 2. An
// unknown id and a refused workflow both "fail", and the caller answers both
// with the same NotFound.
func Gate(c *catalog.Catalog, id uuid.UUID, req Request) (*catalog.Workflow, string) {
	wf, ok := c.Get(id)
	if !ok || (req.Gated && !catalog.Matches(wf, req.Filter)) {
		return nil, auditevent.GateFail
	}
	return wf, auditevent.GatePass
}
