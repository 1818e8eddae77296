package catalog_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	sample "function/infra/catalog"
	"function/shared/catalog"
	"function/shared/pgtext"
)

// FuzzLoad feeds arbitrary bytes as a catalog file beside the sample action
// types: LoadDir must return a catalog or an error, never panic, and a
// catalog it returns must answer.
func FuzzLoad(f *testing.F) {
	actionTypes, err := fs.ReadFile(sample.FS, "action-types.yaml")
	if err != nil {
		f.Fatal(err)
	}
	// Small seeds: the fuzzer minimises every new input, a few ms per try.
	f.Add([]byte(workflowYAML))
	f.Add([]byte(reformattedYAML))
	f.Add([]byte(fullWorkflowYAML))
	f.Add([]byte(strings.Replace(workflowYAML, "  execution:", "  customLabels: {team: \"*\"}\n  detectedLabels: {gitOpsManaged: \"true\", gitOpsTool: \"*\"}\n  execution:", 1) +
		"---\n" + strings.Replace(workflowYAML, "version: 1.0.0", "version: 0.9.0", 1) + "status: {catalogStatus: Disabled}\n"))
	f.Add([]byte(strings.Replace(workflowYAML, "The pod.", "The \x00 pod \xff.", 1)))
	f.Add([]byte(strings.Replace(workflowYAML, "The pod.", `"The \0 pod \uD800 \xC0."`, 1)))
	f.Add([]byte(strings.Replace(workflowYAML, "restart-pod-standard", `"restart-pod\0"`, 1)))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.LoadDir(files("action-types.yaml", string(actionTypes), "fuzz.yaml", string(data)))
		if err != nil {
			return
		}
		filter := catalog.Filter{
			Severity: "critical", Component: "v1/Pod", Environment: "production", Priority: "P1",
			CustomLabels:   map[string][]string{"team": {"payments"}},
			DetectedLabels: catalog.DetectedLabels{GitOpsManaged: new(true), GitOpsTool: "argocd"},
		}
		// As catalogstore stores them, and audit events copy parts of them.
		stored := [][]byte{}
		for _, a := range c.ActionTypes() {
			doc, _ := json.Marshal(a)
			stored = append(stored, doc)
		}
		for _, w := range c.Workflows() {
			stored = append(stored, w.Content())
		}
		for _, doc := range stored {
			if field, found := pgtext.BadJSON("", doc); found {
				t.Fatalf("accepted %s, which PostgreSQL cannot store: %s", field, doc)
			}
		}
		actions, _ := c.ListActions(filter, 0, 100)
		for _, a := range actions {
			c.ListWorkflows(a.ActionType, filter, 0, 100)
		}
	})
}
