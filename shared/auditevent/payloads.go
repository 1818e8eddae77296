package auditevent

import "time"

// Payload is the data of one event type. Each payload knows its own type,
// outcome, subject (the resource id) and correlation id, so constructors fill
// the envelope consistently.
type Payload interface {
	EventType() string
	Outcome() string
	Subject() string
	Correlation() string
}

// SignalContext is the filter set a discovery call was made with.
type SignalContext struct {
	Severity       string              `json:"severity"`
	Component      string              `json:"component"`
	Environment    string              `json:"environment"`
	Priority       string              `json:"priority"`
	Cluster        string              `json:"cluster"`
	CustomLabels   map[string][]string `json:"customLabels"`
	DetectedLabels map[string]any      `json:"detectedLabels"`
}

// Pagination as answered to the caller.
type Pagination struct {
	Offset     int  `json:"offset"`
	Limit      int  `json:"limit"`
	TotalCount int  `json:"totalCount"`
	HasMore    bool `json:"hasMore"`
}

// ActionsListed is the payload of workflow.catalog.actions_listed (step 1).
type ActionsListed struct {
	RemediationID   string        `json:"remediationId"`
	SignalContext   SignalContext `json:"signalContext"`
	ResultCount     int           `json:"resultCount"`
	ActionTypes     []string      `json:"actionTypes"`
	Pagination      Pagination    `json:"pagination"`
	QueryDurationMs float64       `json:"queryDurationMs"`
}

func (ActionsListed) EventType() string     { return TypeActionsListed }
func (ActionsListed) Outcome() string       { return OutcomeSuccess }
func (ActionsListed) Subject() string       { return "actions" }
func (p ActionsListed) Correlation() string { return p.RemediationID }

// ListedWorkflow is one ranked workflow in a step-2 event; FinalScore is
// audit-only and never answered to the caller.
type ListedWorkflow struct {
	WorkflowID   string  `json:"workflowId"`
	WorkflowName string  `json:"workflowName"`
	Version      string  `json:"version"`
	Title        string  `json:"title"`
	Description  any     `json:"description"`
	Labels       any     `json:"labels"`
	Owner        string  `json:"owner"`
	Maintainer   string  `json:"maintainer"`
	ContentHash  string  `json:"contentHash"`
	Rank         int     `json:"rank"`
	FinalScore   float64 `json:"finalScore"`
}

// WorkflowsListed is the payload of workflow.catalog.workflows_listed (step 2).
type WorkflowsListed struct {
	RemediationID   string           `json:"remediationId"`
	SignalContext   SignalContext    `json:"signalContext"`
	ActionType      string           `json:"actionType"`
	ResultCount     int              `json:"resultCount"`
	ActionTypes     []string         `json:"actionTypes"`
	Workflows       []ListedWorkflow `json:"workflows"`
	Pagination      Pagination       `json:"pagination"`
	QueryDurationMs float64          `json:"queryDurationMs"`
}

func (WorkflowsListed) EventType() string     { return TypeWorkflowsListed }
func (WorkflowsListed) Outcome() string       { return OutcomeSuccess }
func (p WorkflowsListed) Subject() string     { return p.ActionType }
func (p WorkflowsListed) Correlation() string { return p.RemediationID }

// Security gate results.
const (
	GatePass = "pass"
	GateFail = "fail"
)

// WorkflowRetrieved is the payload of workflow.catalog.workflow_retrieved (step 3).
// Its outcome is failure when the gate failed or the id is unknown.
type WorkflowRetrieved struct {
	RemediationID      string        `json:"remediationId"`
	WorkflowID         string        `json:"workflowId"`
	WorkflowName       string        `json:"workflowName"`
	ActionType         string        `json:"actionType"`
	Version            string        `json:"version"`
	ContentHash        string        `json:"contentHash"`
	SignalContext      SignalContext `json:"signalContext"`
	SecurityGateResult string        `json:"securityGateResult"`
	ParameterCount     int           `json:"parameterCount"`
	QueryDurationMs    float64       `json:"queryDurationMs"`
}

func (WorkflowRetrieved) EventType() string { return TypeWorkflowRetrieved }
func (p WorkflowRetrieved) Outcome() string { return gateOutcome(p.SecurityGateResult) }
func (p WorkflowRetrieved) Subject() string { return p.WorkflowID }
func (p WorkflowRetrieved) Correlation() string {
	return firstNonEmpty(p.RemediationID, p.WorkflowID)
}

// ParameterValidation summarises a validate call's parameter check.
type ParameterValidation struct {
	TotalParameters  int      `json:"totalParameters"`
	RequiredProvided int      `json:"requiredProvided"`
	OptionalProvided int      `json:"optionalProvided"`
	ValidationErrors []string `json:"validationErrors"`
}

// Validation results.
const (
	Valid   = "valid"
	Invalid = "invalid"
)

// SelectionValidated is the payload of workflow.catalog.selection_validated.
type SelectionValidated struct {
	RemediationID       string              `json:"remediationId"`
	WorkflowID          string              `json:"workflowId"`
	WorkflowName        string              `json:"workflowName"`
	ActionType          string              `json:"actionType"`
	Version             string              `json:"version"`
	SignalContext       SignalContext       `json:"signalContext"`
	SecurityGateResult  string              `json:"securityGateResult"`
	ValidationResult    string              `json:"validationResult"`
	ParameterValidation ParameterValidation `json:"parameterValidation"`
	QueryDurationMs     float64             `json:"queryDurationMs"`
}

func (SelectionValidated) EventType() string { return TypeSelectionValidated }
func (p SelectionValidated) Outcome() string {
	if p.SecurityGateResult != GatePass || p.ValidationResult != Valid {
		return OutcomeFailure
	}
	return OutcomeSuccess
}
func (p SelectionValidated) Subject() string { return p.WorkflowID }
func (p SelectionValidated) Correlation() string {
	return firstNonEmpty(p.RemediationID, p.WorkflowID)
}

// ObjectRef names a WorkflowExecution.
type ObjectRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// PreviousFailure is the failure that caused the block.
type PreviousFailure struct {
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failedAt"`
}

// BlockCleared is the payload of workflowexecution.block.cleared (BR-WE-013).
type BlockCleared struct {
	WorkflowExecution ObjectRef       `json:"workflowExecution"`
	WorkflowID        string          `json:"workflowId"`
	TargetResource    string          `json:"targetResource"`
	ClearedBy         string          `json:"clearedBy"`
	ClearedByUID      string          `json:"clearedByUID"`
	ClearedByGroups   []string        `json:"clearedByGroups"`
	ClearReason       string          `json:"clearReason"`
	ClearMethod       string          `json:"clearMethod"`
	ClearedAt         time.Time       `json:"clearedAt"`
	PreviousFailure   PreviousFailure `json:"previousFailure"`
	// RemediationRequest is the parent remediation's name, the correlation id
	// when known; it is carried in the envelope, not the payload.
	RemediationRequest string `json:"-"`
}

func (BlockCleared) EventType() string { return TypeBlockCleared }
func (BlockCleared) Outcome() string   { return OutcomeSuccess }
func (p BlockCleared) Subject() string {
	return p.WorkflowExecution.Namespace + "/" + p.WorkflowExecution.Name
}
func (p BlockCleared) Correlation() string {
	return firstNonEmpty(p.RemediationRequest, p.WorkflowExecution.Name)
}

// LegalHold is what a legal hold event says: the correlation id whose
// events are held, and why it was placed or released. The auditor is the
// event's actor.
type LegalHold struct {
	CorrelationID string `json:"correlationId"`
	Reason        string `json:"reason"`
}

func (LegalHold) Outcome() string       { return OutcomeSuccess }
func (p LegalHold) Subject() string     { return p.CorrelationID }
func (p LegalHold) Correlation() string { return p.CorrelationID }

// LegalHoldPlaced is the payload of audit.legal_hold.placed.
type LegalHoldPlaced struct{ LegalHold }

// LegalHoldReleased is the payload of audit.legal_hold.released.
type LegalHoldReleased struct{ LegalHold }

func (LegalHoldPlaced) EventType() string   { return TypeLegalHoldPlaced }
func (LegalHoldReleased) EventType() string { return TypeLegalHoldReleased }

func gateOutcome(gate string) string {
	if gate == GatePass {
		return OutcomeSuccess
	}
	return OutcomeFailure
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
