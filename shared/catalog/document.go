package catalog

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The documents are Kubernaut's own resources, as a user's files or the
// cluster hold them:
//
//	apiVersion: kubernaut.ai/v1alpha1
//	kind: ActionType            # spec: ActionType
//	kind: RemediationWorkflow   # metadata.name is the workflowName, spec: WorkflowSpec,
//	                            # status as Kubernaut's admission webhook writes it (optional)
//
// metadata may hold anything a resource's ObjectMeta holds; only its name is
// read. spec is decoded strictly: an unknown field is an error.

const (
	apiVersion     = "kubernaut.ai/v1alpha1"
	kindActionType = "ActionType"
	kindWorkflow   = "RemediationWorkflow"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// objectMeta is a resource's metadata: the name, and whatever else a
// resource has there (namespace, uid, labels, managedFields, ...), unread.
type objectMeta map[string]jsontext.Value

// name is metadata.name, "" when absent or not a string.
func (m objectMeta) name() string {
	var s string
	_ = jsonv2.Unmarshal(m["name"], &s)
	return s
}

type actionTypeDoc struct {
	typeMeta
	Metadata objectMeta     `json:"metadata"`
	Spec     ActionType     `json:"spec"`
	Status   jsontext.Value `json:"status,omitempty"` // Kubernaut's bookkeeping; not read
}

type workflowDoc struct {
	typeMeta
	Metadata objectMeta      `json:"metadata"`
	Spec     WorkflowSpec    `json:"spec"`
	Status   *workflowStatus `json:"status,omitempty"`
}

// workflowStatus is the status Kubernaut's admission webhook writes. Only
// catalogStatus (default Active) and the identity are read.
type workflowStatus struct {
	WorkflowID        string         `json:"workflowId,omitempty"`
	ContentHash       string         `json:"contentHash,omitempty"`
	CatalogStatus     Status         `json:"catalogStatus,omitempty"`
	RegisteredBy      jsontext.Value `json:"registeredBy,omitempty"`
	RegisteredAt      jsontext.Value `json:"registeredAt,omitempty"`
	PreviouslyExisted jsontext.Value `json:"previouslyExisted,omitempty"`
	Conditions        jsontext.Value `json:"conditions,omitempty"`
}

// cleanDoc is the document the content hash covers (compat §1.1): kind,
// apiVersion, metadata.name and spec, in this order.
type cleanDoc struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   cleanMeta    `json:"metadata"`
	Spec       WorkflowSpec `json:"spec"`
}

type cleanMeta struct {
	Name string `json:"name"`
}
