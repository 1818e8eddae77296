package catalog_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sample "function/infra/catalog"
	"function/shared/catalog"
)

const actionTypeYAML = `apiVersion: kubernaut.ai/v1alpha1
kind: ActionType
metadata:
  name: restart-pod
spec:
  name: RestartPod
  description:
    what: Deletes a pod so its controller recreates it.
`

// workflowYAML is a valid workflow document; tests replace parts of it.
const workflowYAML = `apiVersion: kubernaut.ai/v1alpha1
kind: RemediationWorkflow
metadata:
  name: restart-pod-standard
spec:
  version: 1.0.0
  name: Restart one pod
  description:
    what: Deletes one pod.
  actionType: RestartPod
  labels:
    severity: [critical, high]
    component: [v1/Pod]
    environment: ["*"]
    priority: P1
  parameters:
    type: object
    required: [POD_NAME]
    properties:
      POD_NAME: {type: string, pattern: "^[a-z0-9-]+$"}
  executionEngine: job
`

func files(kv ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		fsys[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fsys
}

func TestLoadSampleCatalog(t *testing.T) {
	c, err := catalog.LoadDir(sample.FS)
	require.NoError(t, err)

	var actionNames []string
	for _, a := range c.ActionTypes() {
		actionNames = append(actionNames, a.Name)
		assert.NotEmpty(t, a.Description.WhenToUse, a.Name)
		assert.NotEmpty(t, a.Description.WhenNotToUse, a.Name)
	}
	assert.Equal(t, []string{
		"CleanupNode", "CordonNode", "DeletePod", "DrainNode", "IncreaseCPULimits",
		"IncreaseMemoryLimits", "RestartDeployment", "RestartPod", "RollbackDeployment", "ScaleReplicas",
	}, actionNames)

	actions, total := c.ListActions(catalog.Filter{}, 0, 100)
	assert.Equal(t, 10, total, "every action type has a discoverable workflow")
	assert.Len(t, actions, 10)

	// scale-out-conservative 1.0.0 is superseded by 1.1.0, scale-to-zero-dev is Disabled.
	scale, _ := c.ListWorkflows("ScaleReplicas", catalog.Filter{}, 0, 100)
	assert.ElementsMatch(t, []string{"scale-out-conservative@1.1.0", "scale-out-argocd@1.0.0", "scale-out-gitops@2.0.0"}, names(scale))

	// A GitOps signal: Argo CD exactly (full weight) beats any tool (half
	// weight); the direct patch is penalised twice but still listed.
	yes := new(true)
	gitops := catalog.Filter{
		Severity: "critical", Component: "apps/v1/deployment", Environment: "production", Priority: "P0",
		DetectedLabels: catalog.DetectedLabels{GitOpsManaged: yes, GitOpsTool: "argocd", PDBProtected: yes},
	}
	ranked, _ := c.ListWorkflows("ScaleReplicas", gitops, 0, 10)
	assert.Equal(t, []string{"scale-out-argocd@1.0.0", "scale-out-gitops@2.0.0", "scale-out-conservative@1.1.0"}, names(ranked))
	assert.Equal(t, []float64{0.52, 0.515, 0.4850}, []float64{ranked[0].Score, ranked[1].Score, ranked[2].Score})

	// A cluster filter excludes the workflow without a cluster list.
	cpu, _ := c.ListWorkflows("IncreaseCPULimits", catalog.Filter{Cluster: "prod-ap-1"}, 0, 10)
	assert.Equal(t, []string{"increase-cpu-limits-any-cluster@1.0.0"}, names(cpu))
}

func TestLoadSplitsDocuments(t *testing.T) {
	c, err := catalog.LoadDir(files(
		"a.yaml", "---\n# comments only\n---\n"+actionTypeYAML+"---\r\n"+workflowYAML+"---\n",
		"b.yaml", strings.Replace(workflowYAML, "version: 1.0.0", "version: 1.1.0", 1),
		"ignored.yml", "not: [loaded",
		"sub/ignored.yaml", "not: [loaded",
	))
	require.NoError(t, err)
	assert.Len(t, c.ActionTypes(), 1)
	assert.Len(t, c.Workflows(), 2)
}

func TestLoadErrors(t *testing.T) {
	replace := func(old, new string) string {
		require.Contains(t, workflowYAML, old)
		return strings.Replace(workflowYAML, old, new, 1)
	}
	for _, tc := range []struct {
		name        string
		fsys        fstest.MapFS
		file        string
		doc         int
		field       string
		errContains string
	}{
		{"unknown kind", files("a.yaml", actionTypeYAML+"---\n"+replace("kind: RemediationWorkflow", "kind: Workflow")),
			"a.yaml", 2, "kind", `"Workflow"`},
		{"wrong apiVersion", files("a.yaml", strings.Replace(actionTypeYAML, "v1alpha1", "v1", 1)),
			"a.yaml", 1, "apiVersion", `"kubernaut.ai/v1"`},
		{"missing metadata.name of an action type", files("a.yaml", strings.Replace(actionTypeYAML, "metadata:\n  name: restart-pod\n", "metadata: {}\n", 1)),
			"a.yaml", 1, "metadata.name", "required"},
		{"missing spec.name of an action type", files("a.yaml", strings.Replace(actionTypeYAML, "  name: RestartPod\n", "", 1)),
			"a.yaml", 1, "spec.name", "required"},
		{"action type defined twice", files("a.yaml", actionTypeYAML, "b.yaml", actionTypeYAML),
			"b.yaml", 1, "spec.name", "also in a.yaml"},
		{"missing workflow name", files("a.yaml", actionTypeYAML, "w.yaml", replace("name: restart-pod-standard", "name: \"\"")),
			"w.yaml", 1, "metadata.name", "required"},
		{"unknown action type", files("a.yaml", actionTypeYAML, "w.yaml", "# leading comment\n---\n"+replace("actionType: RestartPod", "actionType: RebootPod")),
			"w.yaml", 1, "spec.actionType", `unknown action type "RebootPod"`},
		{"bad severity", files("a.yaml", actionTypeYAML, "w.yaml", replace("severity: [critical, high]", "severity: [critical, urgent]")),
			"w.yaml", 1, "spec.labels.severity[1]", `"urgent" is not one of critical, high, warning, info or *`},
		{"missing severity", files("a.yaml", actionTypeYAML, "w.yaml", replace("    severity: [critical, high]\n", "")),
			"w.yaml", 1, "spec.labels.severity", "required"},
		{"empty environment value", files("a.yaml", actionTypeYAML, "w.yaml", replace(`environment: ["*"]`, `environment: ["*", ""]`)),
			"w.yaml", 1, "spec.labels.environment[1]", "empty value"},
		{"bad priority", files("a.yaml", actionTypeYAML, "w.yaml", replace("priority: P1", "priority: P5")),
			"w.yaml", 1, "spec.labels.priority", `"P5" is not one of P0, P1, P2, P3 or *`},
		{"bad version", files("a.yaml", actionTypeYAML, "w.yaml", replace("version: 1.0.0", "version: \"1.0\"")),
			"w.yaml", 1, "spec.version", "not a semantic version"},
		{"version defined twice", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"---\n"+replace("version: 1.0.0", "version: v1.0.0")),
			"w.yaml", 2, "spec.version", "defined twice"},
		{"bad status", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"status:\n  catalogStatus: Retired\n"),
			"w.yaml", 1, "status.catalogStatus", `"Retired"`},
		{"missing execution engine", files("a.yaml", actionTypeYAML, "w.yaml", replace("  executionEngine: job\n", "")),
			"w.yaml", 1, "spec.executionEngine", "required"},
		{"empty custom label value", files("a.yaml", actionTypeYAML, "w.yaml", replace("  executionEngine", "  customLabels:\n    team: []\n  executionEngine")),
			"w.yaml", 1, "spec.customLabels.team", "empty value"},
		{"missing parameters", files("a.yaml", actionTypeYAML, "w.yaml", replace("  parameters:\n    type: object\n    required: [POD_NAME]\n    properties:\n      POD_NAME: {type: string, pattern: \"^[a-z0-9-]+$\"}\n", "")),
			"w.yaml", 1, "spec.parameters", "required"},
		{"parameters not a JSON Schema", files("a.yaml", actionTypeYAML, "w.yaml", replace("{type: string,", "{type: strng,")),
			"w.yaml", 1, "spec.parameters", "/properties/POD_NAME/type"},
		{"parameters pattern not a regexp", files("a.yaml", actionTypeYAML, "w.yaml", replace(`"^[a-z0-9-]+$"`, `"^[a-z"`)),
			"w.yaml", 1, "spec.parameters", "pattern"},
		{"parameters not an object schema", files("a.yaml", actionTypeYAML, "w.yaml", replace("    type: object\n", "    type: array\n")),
			"w.yaml", 1, "spec.parameters", `"type": "object"`},
		{"parameters loading another document", files("a.yaml", actionTypeYAML, "w.yaml", replace("{type: string,", "{$ref: \"file:///etc/passwd\",")),
			"w.yaml", 1, "spec.parameters", "file:///etc/passwd"},
		{"typo in a field name", files("a.yaml", actionTypeYAML, "w.yaml", replace("severity:", "severty:")),
			"w.yaml", 1, "", `unknown field "severty"`},
		{"wrong type", files("a.yaml", actionTypeYAML, "w.yaml", replace("severity: [critical, high]", "severity: critical")),
			"w.yaml", 1, "spec.labels.severity", "got string, want []string"},
		{"duplicate key", files("a.yaml", actionTypeYAML, "w.yaml", replace("  executionEngine: job\n", "  executionEngine: job\n  executionEngine: tekton\n")),
			"w.yaml", 1, "", "executionEngine"},
		{"YAML syntax", files("a.yaml", actionTypeYAML+"---\nkind: [ActionType\n"),
			"a.yaml", 2, "", "yaml"},
		{"document not a mapping", files("a.yaml", "- apiVersion: kubernaut.ai/v1alpha1\n"),
			"a.yaml", 1, "", "not a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catalog.LoadDir(tc.fsys)
			var le *catalog.LoadError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tc.file, le.File)
			assert.Equal(t, tc.doc, le.Doc)
			assert.Equal(t, tc.field, le.Field)
			assert.Contains(t, err.Error(), tc.errContains)
			assert.True(t, strings.HasPrefix(err.Error(), tc.file+": document "), err.Error())
		})
	}
}

func TestLoadNeedsFiles(t *testing.T) {
	_, err := catalog.LoadDir(fstest.MapFS{})
	assert.ErrorContains(t, err, "no *.yaml files")
}

func TestNewErrorsNameTheWorkflow(t *testing.T) {
	_, err := catalog.New(actionTypes, []catalog.Workflow{workflow("restart", "1.0.0", action("Reboot"))})
	var le *catalog.LoadError
	require.True(t, errors.As(err, &le))
	assert.Equal(t, "restart", le.Name)
	assert.EqualError(t, err, `restart: spec.actionType: unknown action type "Reboot"`)
}
