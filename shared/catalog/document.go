package catalog

// The YAML documents, shaped like Kubernaut's custom resources:
//
//	apiVersion: kubernaut.ai/v1alpha1
//	kind: ActionType            # metadata.name, spec: ActionType
//	kind: RemediationWorkflow   # metadata.name is the workflowName, spec: WorkflowSpec,
//	                            # optional status.catalogStatus (default Active)

const (
	apiVersion     = "kubernaut.ai/v1alpha1"
	kindActionType = "ActionType"
	kindWorkflow   = "RemediationWorkflow"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type objectMeta struct {
	Name string `json:"name"`
}

type actionTypeDoc struct {
	typeMeta
	Metadata objectMeta `json:"metadata"`
	Spec     ActionType `json:"spec"`
}

type workflowDoc struct {
	typeMeta
	Metadata objectMeta      `json:"metadata"`
	Spec     WorkflowSpec    `json:"spec"`
	Status   *workflowStatus `json:"status,omitempty"`
}

type workflowStatus struct {
	CatalogStatus Status `json:"catalogStatus"`
}
