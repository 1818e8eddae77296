package blockclear

import (
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"function/shared/auditevent"
)

// The parts of a kubernaut.ai/v1alpha1 WorkflowExecution this function reads
// and writes (BR-WE-013). infra/crd/blockclearance-schema.yaml has the schema of
// status.blockClearance.
type WorkflowExecution struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              Spec   `json:"spec"`
	Status            Status `json:"status"`
}

// Spec is the WorkflowExecution's desired execution.
type Spec struct {
	WorkflowRef           WorkflowRef `json:"workflowRef"`
	TargetResource        string      `json:"targetResource"`
	RemediationRequestRef *ObjectRef  `json:"remediationRequestRef,omitempty"`
}

// WorkflowRef names the workflow being executed.
type WorkflowRef struct {
	WorkflowID string `json:"workflowId"`
	Version    string `json:"version,omitempty"`
}

// ObjectRef names a namespaced object.
type ObjectRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// Status is the observed execution state.
type Status struct {
	Phase          string          `json:"phase,omitempty"`
	FailureDetails *FailureDetails `json:"failureDetails,omitempty"`
	BlockClearance *BlockClearance `json:"blockClearance,omitempty"`
}

// PhaseFailed is the phase whose failure blocks the next execution.
const PhaseFailed = "Failed"

// FailureDetails describes why the execution failed.
type FailureDetails struct {
	Reason              string      `json:"reason,omitempty"`
	Message             string      `json:"message,omitempty"`
	FailedAt            metav1.Time `json:"failedAt,omitempty"`
	WasExecutionFailure bool        `json:"wasExecutionFailure"`
}

// BlockClearance records who cleared a PreviousExecutionFailed block, why,
// how and when. The operator sets ClearReason (and optionally ClearMethod);
// the webhook sets everything else from the API server's verified identity.
type BlockClearance struct {
	ClearedAt       metav1.Time `json:"clearedAt,omitempty"`
	ClearedBy       string      `json:"clearedBy,omitempty"`
	ClearedByUID    string      `json:"clearedByUID,omitempty"`
	ClearedByGroups []string    `json:"clearedByGroups,omitempty"`
	ClearReason     string      `json:"clearReason,omitempty"`
	ClearMethod     string      `json:"clearMethod,omitempty"`
}

// Clear methods (BR-WE-013).
const (
	MethodStatusField = "StatusField"
	MethodAnnotation  = "Annotation"
	MethodAPIEndpoint = "APIEndpoint"
)

// LegacyAnnotation is the annotation the reference design read the clearing
// user from; its value is freeform and forgeable, so it is refused.
const LegacyAnnotation = "kubernaut.ai/clear-execution-block"

// eventNamespace is the UUIDv5 namespace of block-clearance event ids.
var eventNamespace = uuid.MustParse("1d3b8c6e-63a4-5c1e-9f0b-6b1f7a0c2e51")

// EventID is the id of the audit event of a clearance: UUIDv5 of the WFE uid
// and the clearance time (RFC 3339, whole seconds, as the API server stores
// it), so the webhook and the catch-up path produce the same id.
func EventID(wfeUID string, clearedAt time.Time) uuid.UUID {
	return uuid.NewSHA1(eventNamespace, []byte(wfeUID+"|"+clearedAt.UTC().Format(time.RFC3339)))
}

// auditEvent is the workflowexecution.block.cleared event of a recorded
// clearance. The webhook and the catch-up path both build it from the stored
// object's fields, so they produce the same event.
func auditEvent(w *WorkflowExecution) (auditevent.Event, error) {
	bc := w.Status.BlockClearance
	p := auditevent.BlockCleared{
		WorkflowExecution: auditevent.ObjectRef{Namespace: w.Namespace, Name: w.Name, UID: string(w.UID)},
		WorkflowID:        w.Spec.WorkflowRef.WorkflowID,
		TargetResource:    w.Spec.TargetResource,
		ClearedBy:         bc.ClearedBy,
		ClearedByUID:      bc.ClearedByUID,
		ClearedByGroups:   append([]string{}, bc.ClearedByGroups...),
		ClearReason:       bc.ClearReason,
		ClearMethod:       bc.ClearMethod,
		ClearedAt:         bc.ClearedAt.UTC(),
	}
	if fd := w.Status.FailureDetails; fd != nil {
		p.PreviousFailure = auditevent.PreviousFailure{Reason: fd.Reason, FailedAt: fd.FailedAt.UTC()}
	}
	if rr := w.Spec.RemediationRequestRef; rr != nil {
		p.RemediationRequest = rr.Name
	}
	return auditevent.NewWithID(EventID(string(w.UID), bc.ClearedAt.Time), "blockclear", p,
		auditevent.Actor{Type: "user", ID: bc.ClearedBy}, bc.ClearedAt.Time)
}
