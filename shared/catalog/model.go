package catalog

import (
	"encoding/json"
	"regexp"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/google/uuid"
)

// The types below are Kubernaut's kubernaut.ai/v1alpha1 RemediationWorkflow
// and ActionType specs. Field order and omitempty rules are those of
// Kubernaut's Go structs: the content hash is the encoding/json form of
// these types (identity.go), so they must not be reordered.

// Description is the structured text of an action type or a workflow, as the
// LLM reads it.
type Description struct {
	What          string `json:"what"`
	WhenToUse     string `json:"whenToUse"`
	WhenNotToUse  string `json:"whenNotToUse,omitempty"`
	Preconditions string `json:"preconditions,omitempty"`
}

// ActionType is one entry of the action-type taxonomy (DD-WORKFLOW-016): the
// spec of an ActionType resource.
type ActionType struct {
	Name        string      `json:"name"`
	Description Description `json:"description"`

	src source
}

// Status is a workflow's catalog lifecycle state (status.catalogStatus);
// only Active workflows are discoverable.
type Status string

// Workflow statuses: Kubernaut's catalogStatus enum.
const (
	StatusActive     Status = "Active"
	StatusInvalid    Status = "Invalid"
	StatusPending    Status = "Pending"
	StatusDisabled   Status = "Disabled"
	StatusDeprecated Status = "Deprecated"
	StatusArchived   Status = "Archived"
	StatusSuperseded Status = "Superseded"
)

// Labels are the mandatory matching labels of a workflow. Every list may hold
// "*" (matches any value of the filter).
type Labels struct {
	Severity    []string `json:"severity"`
	Environment []string `json:"environment"`
	Component   []string `json:"component"`
	Priority    string   `json:"priority"`
	Cluster     []string `json:"cluster,omitempty"`
}

// Execution is how Kubernaut runs a workflow.
type Execution struct {
	Engine             string          `json:"engine,omitempty"` // tekton, job or ansible
	Bundle             string          `json:"bundle,omitempty"`
	BundleDigest       string          `json:"bundleDigest,omitempty"`
	EngineConfig       json.RawMessage `json:"engineConfig,omitempty"` // free-form, compact
	ServiceAccountName string          `json:"serviceAccountName,omitempty"`
}

// Dependencies are the Secrets and ConfigMaps a workflow needs.
type Dependencies struct {
	Secrets    []NamedRef `json:"secrets,omitempty"`
	ConfigMaps []NamedRef `json:"configMaps,omitempty"`
}

// NamedRef names one Kubernetes resource.
type NamedRef struct {
	Name string `json:"name"`
}

// Maintainer is a workflow maintainer's contact.
type Maintainer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Parameter types.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeFloat   = "float"
)

// Parameter is one input of a workflow.
type Parameter struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Required    bool            `json:"required"`
	Description string          `json:"description"`
	Enum        []string        `json:"enum,omitempty"`
	Pattern     string          `json:"pattern,omitempty"`
	Minimum     *float64        `json:"minimum,omitempty"`
	Maximum     *float64        `json:"maximum,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"` // any JSON, compact
	DependsOn   []string        `json:"dependsOn,omitempty"`
}

// WorkflowSpec is the spec of a RemediationWorkflow: a workflow's content.
type WorkflowSpec struct {
	Version            string            `json:"version"`
	Description        Description       `json:"description"`
	ActionType         string            `json:"actionType"`
	Labels             Labels            `json:"labels"`
	CustomLabels       map[string]string `json:"customLabels,omitempty"`
	DetectedLabels     json.RawMessage   `json:"detectedLabels,omitempty"` // free-form object, compact; read into Workflow.Detected
	Execution          Execution         `json:"execution"`
	Dependencies       *Dependencies     `json:"dependencies,omitempty"`
	Maintainers        []Maintainer      `json:"maintainers,omitempty"`
	Parameters         []Parameter       `json:"parameters"`
	RollbackParameters []Parameter       `json:"rollbackParameters,omitempty"`
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

// Workflow is one version of a remediation workflow: a RemediationWorkflow
// resource. WorkflowID, ContentHash and Detected are computed by New;
// Status is lifecycle, not content, so changing it keeps the id.
type Workflow struct {
	WorkflowName string // metadata.name
	WorkflowSpec
	Status Status

	ContentHash string
	WorkflowID  uuid.UUID
	Detected    DetectedLabels // spec.detectedLabels as matching reads them

	claimed  claimedIdentity // status.workflowId and contentHash, as the document states them
	patterns *patterns       // compiled parameter patterns, shared by copies
	content  []byte          // the clean content: as read by ParseContent, or encoded by New
	semver   *semver.Version // Version, parsed when checked
	src      source
}

// patterns compiles a workflow's parameter patterns once, when first asked
// for: a snapshot load compiles none, and a function validates the
// parameters of few workflows.
type patterns struct {
	once sync.Once
	re   []*regexp.Regexp // by parameter index; nil where there is none
}

// ParameterPattern is the compiled pattern of w.Parameters[i], or nil when
// it has none or it does not compile (documents come in only with patterns
// that do).
func (w *Workflow) ParameterPattern(i int) *regexp.Regexp {
	ps := w.patterns
	if ps == nil { // a Workflow that did not come through New
		ps = &patterns{}
	}
	ps.once.Do(func() {
		ps.re = make([]*regexp.Regexp, len(w.Parameters))
		for j, p := range w.Parameters {
			if p.Pattern != "" {
				ps.re[j], _ = regexp.Compile(p.Pattern)
			}
		}
	})
	return ps.re[i]
}

// claimedIdentity is the identity a document's status says it has (written
// there by Kubernaut's admission webhook); New refuses a document whose
// claim differs from the identity it computes.
type claimedIdentity struct {
	workflowID  string
	contentHash string
}

// Content is the clean content ContentHash is the SHA-256 of (set by New):
// what the catalog tables store and discovery step 3 answers. Callers must
// not modify it.
func (w *Workflow) Content() []byte { return w.content }

// Document is a new workflow with w's name, spec and status and nothing
// computed, to change and give to New. Changing a copy of w itself would
// keep w's content, which New hashes as it is.
func (w *Workflow) Document() Workflow {
	return Workflow{WorkflowName: w.WorkflowName, WorkflowSpec: w.WorkflowSpec, Status: w.Status}
}
