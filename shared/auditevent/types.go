// Package auditevent is the audit event model: the CloudEvent envelope of
// SPEC §4, the typed payloads of the event types, their conversion to and
// from sdk-go events, and the validation the collector applies.
package auditevent

// Event types (SPEC §4).
const (
	TypeActionsListed      = "workflow.catalog.actions_listed"
	TypeWorkflowsListed    = "workflow.catalog.workflows_listed"
	TypeWorkflowRetrieved  = "workflow.catalog.workflow_retrieved"
	TypeSelectionValidated = "workflow.catalog.selection_validated"
	TypeBlockCleared       = "workflowexecution.block.cleared"
	// An auditor placed or released a legal hold (docs/archive.md).
	TypeLegalHoldPlaced   = "audit.legal_hold.placed"
	TypeLegalHoldReleased = "audit.legal_hold.released"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// spec is what the model knows of one event type: the category and action it
// always carries, the payload keys it requires, the kind of resource its
// subject names and a decoder that type-checks a payload.
type spec struct {
	category     string
	action       string
	resourceType string
	required     []string
	decode       func([]byte) error
}

var discoveryKeys = []string{"remediationId", "signalContext", "resultCount", "actionTypes", "pagination", "queryDurationMs"}

var specs = map[string]spec{
	TypeActionsListed: {
		category: "workflow", action: "discovery", resourceType: "workflow_catalog",
		required: discoveryKeys,
		decode:   decodeAs[ActionsListed],
	},
	TypeWorkflowsListed: {
		category: "workflow", action: "discovery", resourceType: "action_type",
		required: append(append([]string{}, discoveryKeys...), "actionType", "workflows"),
		decode:   decodeAs[WorkflowsListed],
	},
	TypeWorkflowRetrieved: {
		category: "workflow", action: "retrieve", resourceType: "workflow",
		required: []string{"remediationId", "workflowId", "workflowName", "actionType", "version", "contentHash",
			"signalContext", "securityGateResult", "parameterCount", "queryDurationMs"},
		decode: decodeAs[WorkflowRetrieved],
	},
	TypeSelectionValidated: {
		category: "workflow", action: "validate", resourceType: "workflow",
		required: []string{"remediationId", "workflowId", "workflowName", "actionType", "version", "signalContext",
			"securityGateResult", "validationResult", "parameterValidation", "queryDurationMs"},
		decode: decodeAs[SelectionValidated],
	},
	TypeBlockCleared: {
		category: "workflowexecution", action: "block_cleared", resourceType: "workflowexecution",
		required: []string{"workflowExecution", "workflowId", "targetResource", "clearedBy", "clearedByUID",
			"clearedByGroups", "clearReason", "clearMethod", "clearedAt", "previousFailure"},
		decode: decodeAs[BlockCleared],
	},
	TypeLegalHoldPlaced: {
		category: "audit", action: "legal_hold_placed", resourceType: "legal_hold",
		required: []string{"correlationId", "reason"},
		decode:   decodeAs[LegalHoldPlaced],
	},
	TypeLegalHoldReleased: {
		category: "audit", action: "legal_hold_released", resourceType: "legal_hold",
		required: []string{"correlationId", "reason"},
		decode:   decodeAs[LegalHoldReleased],
	},
}

// Types lists every event type the collector accepts.
func Types() []string {
	return []string{TypeActionsListed, TypeWorkflowsListed, TypeWorkflowRetrieved, TypeSelectionValidated, TypeBlockCleared,
		TypeLegalHoldPlaced, TypeLegalHoldReleased}
}
