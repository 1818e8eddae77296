package catalog

import (
	"encoding/json"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Description is the structured text of an action type or a workflow, as the
// LLM reads it.
type Description struct {
	What          string `json:"what"`
	WhenToUse     string `json:"whenToUse,omitempty"`
	WhenNotToUse  string `json:"whenNotToUse,omitempty"`
	Preconditions string `json:"preconditions,omitempty"`
}

// ActionType is one entry of the action-type taxonomy (DD-WORKFLOW-016).
type ActionType struct {
	Name        string      `json:"name"`
	Description Description `json:"description"`

	src source
}

// Status is a workflow's lifecycle state; only Active workflows are
// discoverable.
type Status string

// Workflow statuses.
const (
	StatusActive     Status = "Active"
	StatusDisabled   Status = "Disabled"
	StatusDeprecated Status = "Deprecated"
)

// Labels are the mandatory matching labels of a workflow. Every list may hold
// "*" (matches any value of the filter).
type Labels struct {
	Severity    []string `json:"severity,omitempty"`
	Component   []string `json:"component,omitempty"`
	Environment []string `json:"environment,omitempty"`
	Cluster     []string `json:"cluster,omitempty"`
	Priority    string   `json:"priority,omitempty"`
}

// DetectedLabels are facts about the target resource. Booleans are pointers
// so that a filter can tell "not given" from false; a workflow's nil and false
// mean the same. String fields may be "*".
type DetectedLabels struct {
	GitOpsManaged            *bool  `json:"gitOpsManaged,omitempty"`
	PDBProtected             *bool  `json:"pdbProtected,omitempty"`
	NetworkIsolated          *bool  `json:"networkIsolated,omitempty"`
	HelmManaged              *bool  `json:"helmManaged,omitempty"`
	Stateful                 *bool  `json:"stateful,omitempty"`
	HPAEnabled               *bool  `json:"hpaEnabled,omitempty"`
	VirtualMachine           *bool  `json:"virtualMachine,omitempty"`
	LiveMigratable           *bool  `json:"liveMigratable,omitempty"`
	CDIManaged               *bool  `json:"cdiManaged,omitempty"`
	ResourceQuotaConstrained *bool  `json:"resourceQuotaConstrained,omitempty"`
	GitOpsTool               string `json:"gitOpsTool,omitempty"`
	ServiceMesh              string `json:"serviceMesh,omitempty"`
	StorageBackend           string `json:"storageBackend,omitempty"`
}

// WorkflowSpec is a workflow's content: the spec of its RemediationWorkflow
// document. Empty optional fields are omitted from its JSON form, so leaving a
// field out and writing it empty hash the same.
type WorkflowSpec struct {
	Version         string              `json:"version"`
	Name            string              `json:"name"` // human-readable title
	Description     Description         `json:"description"`
	ActionType      string              `json:"actionType"`
	Owner           string              `json:"owner,omitempty"`
	Maintainer      string              `json:"maintainer,omitempty"`
	Labels          Labels              `json:"labels"`
	CustomLabels    map[string][]string `json:"customLabels,omitempty"`
	DetectedLabels  DetectedLabels      `json:"detectedLabels,omitzero"`
	Parameters      json.RawMessage     `json:"parameters"` // a JSON Schema (draft 2020-12 unless it says otherwise)
	ExecutionEngine string              `json:"executionEngine"`
	ExecutionBundle string              `json:"executionBundle,omitempty"`
}

// Workflow is one version of a remediation workflow. Its JSON form is the
// full workflow of discovery step 3. WorkflowID and ContentHash are computed
// by New (see contentHash); Status is lifecycle, not content, so changing it
// keeps the id.
type Workflow struct {
	WorkflowID   uuid.UUID `json:"workflowId"`
	WorkflowName string    `json:"workflowName"`
	WorkflowSpec
	ContentHash string `json:"contentHash"`
	Status      Status `json:"status"`

	stored []byte          // content as read by ParseContent, for New to hash as is
	semver *semver.Version // Version, parsed when checked
	schema *lazySchema
	src    source
}

// Content is the canonical JSON document ContentHash is the SHA-256 of: what
// the catalog tables store.
func (w *Workflow) Content() ([]byte, error) { return canonicalContent(w) }

// lazySchema compiles a parameter schema on first use. Compiling (which
// validates the schema against its metaschema) was most of a snapshot's
// build time, and a function validates the parameters of few workflows; the
// loader compiles every schema up front, so a bad one never gets in.
type lazySchema struct {
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

// ParameterSchema is the compiled Parameters schema, for validating proposed
// parameters.
func (w *Workflow) ParameterSchema() (*jsonschema.Schema, error) {
	if w.schema == nil { // a Workflow that did not come through New
		return compileParameters(w.Parameters)
	}
	w.schema.once.Do(func() { w.schema.schema, w.schema.err = compileParameters(w.Parameters) })
	return w.schema.schema, w.schema.err
}
