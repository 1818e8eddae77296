package workflow

import (
	"encoding/json"

	"function/shared/catalog"
	"function/shared/discovery"
)

// answer is the full workflow of step 3 as Kubernaut's generated clients
// decode it (Data Storage's RemediationWorkflow, kubernaut-compat §3).
// content is the clean content, so sha256(content) == contentHash.
type answer struct {
	WorkflowID            string                  `json:"workflowId"`
	WorkflowName          string                  `json:"workflowName"`
	Name                  string                  `json:"name"`
	ActionType            string                  `json:"actionType"`
	Version               string                  `json:"version"`
	SchemaVersion         string                  `json:"schemaVersion"`
	Description           catalog.Description     `json:"description"`
	Owner                 string                  `json:"owner,omitempty"`
	Maintainer            string                  `json:"maintainer,omitempty"`
	Content               string                  `json:"content"`
	ContentHash           string                  `json:"contentHash"`
	Labels                catalog.Labels          `json:"labels"`
	CustomLabels          map[string][]string     `json:"customLabels,omitempty"`
	DetectedLabels        *catalog.DetectedLabels `json:"detectedLabels,omitempty"`
	Parameters            parameters              `json:"parameters"`
	ExecutionEngine       string                  `json:"executionEngine"`
	ExecutionBundle       string                  `json:"executionBundle,omitempty"`
	ExecutionBundleDigest string                  `json:"executionBundleDigest,omitempty"`
	ServiceAccountName    string                  `json:"serviceAccountName,omitempty"`
	EngineConfig          json.RawMessage         `json:"engineConfig,omitempty"`
	Status                catalog.Status          `json:"status"`
	IsLatestVersion       bool                    `json:"isLatestVersion"`
}

// parameters wraps the CRD's parameter list as Data Storage does:
// {"schema":{"parameters":[...]}}.
type parameters struct {
	Schema struct {
		Parameters []catalog.Parameter `json:"parameters"`
	} `json:"schema"`
}

func answerOf(wf *catalog.Workflow) answer {
	owner, maintainer := discovery.Owner(wf)
	a := answer{
		WorkflowID: wf.WorkflowID.String(), WorkflowName: wf.WorkflowName, Name: wf.WorkflowName,
		ActionType: wf.ActionType, Version: wf.Version, SchemaVersion: discovery.SchemaVersion,
		Description: wf.Description, Owner: owner, Maintainer: maintainer,
		Content: string(wf.Content()), ContentHash: wf.ContentHash, Labels: wf.Labels,
		ExecutionEngine: wf.Execution.Engine, ExecutionBundle: wf.Execution.Bundle,
		ExecutionBundleDigest: wf.Execution.BundleDigest, ServiceAccountName: wf.Execution.ServiceAccountName,
		EngineConfig: wf.Execution.EngineConfig, Status: wf.Status,
		IsLatestVersion: true, // only the latest version of a workflow is discoverable
	}
	a.Parameters.Schema.Parameters = wf.Parameters
	if len(wf.CustomLabels) > 0 {
		a.CustomLabels = map[string][]string{}
		for k, v := range wf.CustomLabels {
			a.CustomLabels[k] = []string{v}
		}
	}
	a.DetectedLabels = answeredDetections(wf.Detected)
	return a
}

// answeredDetections are the detected labels as Data Storage's DetectedLabels
// declares them, whose string detections are enums a generated client
// enforces; nil when none is left.
func answeredDetections(d catalog.DetectedLabels) *catalog.DetectedLabels {
	if d = d.Known(); d == (catalog.DetectedLabels{}) {
		return nil
	}
	return &d
}
