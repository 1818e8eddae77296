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
    whenToUse: One pod is wedged.
`

// workflowYAML is a valid workflow document; tests replace parts of it.
const workflowYAML = `apiVersion: kubernaut.ai/v1alpha1
kind: RemediationWorkflow
metadata:
  name: restart-pod-standard
spec:
  version: 1.0.0
  description:
    what: Deletes one pod.
    whenToUse: One pod is wedged.
  actionType: RestartPod
  labels:
    severity: [critical, high]
    environment: ["*"]
    component: [v1/Pod]
    priority: P1
  execution:
    engine: job
  parameters:
    - name: POD_NAME
      type: string
      required: true
      description: The pod.
      pattern: "^[a-z0-9-]+$"
`

// fullWorkflowYAML sets every optional field of Kubernaut's CRD, as
// "kubectl get -o yaml" shows a registered resource.
const fullWorkflowYAML = `apiVersion: kubernaut.ai/v1alpha1
kind: RemediationWorkflow
metadata:
  name: restart-pod-full
  namespace: kubernaut-system
  uid: 0b7c1f0e-5d3a-4a57-9a43-9f1c1d1e2f30
  resourceVersion: "4711"
  labels: {app.kubernetes.io/part-of: kubernaut}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
spec:
  version: 2.0.0-rc.1+build.7
  description:
    what: Deletes one pod & waits for <Ready>.
    whenToUse: One pod is wedged.
    whenNotToUse: Every replica is wedged.
    preconditions: The pod has a controller.
  actionType: RestartPod
  labels:
    severity: ["*"]
    environment: [production]
    component: [v1/Pod]
    priority: "*"
    cluster: [prod-eu-1]
  customLabels:
    team: payments
    tier: "*"
  detectedLabels:
    pdbProtected: "true"
    stateful: false
    gitOpsTool: "*"
    futureDetection: {nested: [1, 2.5]}
  execution:
    engine: tekton
    bundle: quay.io/example/restart@sha256:1111111111111111111111111111111111111111111111111111111111111111
    bundleDigest: sha256:1111111111111111111111111111111111111111111111111111111111111111
    engineConfig: {timeout: 10m, retries: 2, params: {z: 1, a: 2}}
    serviceAccountName: restart-sa
  dependencies:
    secrets: [{name: registry-creds}]
    configMaps: [{name: restart-tuning}]
  maintainers:
    - name: Platform team
      email: platform@example.com
  parameters:
    - name: POD_NAME
      type: string
      required: true
      description: The pod.
      pattern: "^[a-z0-9-]+$"
    - name: GRACE_SECONDS
      type: integer
      required: false
      description: Grace period.
      minimum: 0
      maximum: 600
      default: 30
      dependsOn: [POD_NAME]
    - name: MODE
      type: string
      required: false
      description: How.
      enum: [graceful, force]
      default: graceful
    - name: RATIO
      type: float
      required: false
      description: A ratio.
      minimum: 0.5
    - name: DRY_RUN
      type: boolean
      required: false
      description: Only print.
      default: false
    - name: LABELS
      type: array
      required: false
      description: Labels to add.
      default: [a, b]
  rollbackParameters:
    - name: POD_NAME
      type: string
      required: true
      description: The pod.
status:
  catalogStatus: Active
  registeredBy: system:serviceaccount:kubernaut-system:authwebhook
  registeredAt: "2026-08-01T10:00:00Z"
  previouslyExisted: false
  conditions:
    - {type: Registered, status: "True", reason: Registered, message: ok, lastTransitionTime: "2026-08-01T10:00:00Z"}
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

func TestLoadEveryOptionalField(t *testing.T) {
	c, err := catalog.LoadDir(files("a.yaml", actionTypeYAML, "w.yaml", fullWorkflowYAML))
	require.NoError(t, err)
	w := c.Workflows()[0]
	assert.Equal(t, "restart-pod-full", w.WorkflowName)
	assert.Equal(t, "2.0.0-rc.1+build.7", w.Version)
	assert.Equal(t, map[string]string{"team": "payments", "tier": "*"}, w.CustomLabels)
	assert.JSONEq(t, `{"pdbProtected":"true","stateful":false,"gitOpsTool":"*","futureDetection":{"nested":[1,2.5]}}`, string(w.DetectedLabels))
	assert.Equal(t, catalog.DetectedLabels{PDBProtected: new(true), Stateful: new(false), GitOpsTool: "*"}, w.Detected)
	assert.Equal(t, "restart-sa", w.Execution.ServiceAccountName)
	assert.Equal(t, `{"params":{"a":2,"z":1},"retries":2,"timeout":"10m"}`, string(w.Execution.EngineConfig), "compact, keys sorted")
	assert.Equal(t, &catalog.Dependencies{Secrets: []catalog.NamedRef{{Name: "registry-creds"}}, ConfigMaps: []catalog.NamedRef{{Name: "restart-tuning"}}}, w.Dependencies)
	assert.Equal(t, []catalog.Maintainer{{Name: "Platform team", Email: "platform@example.com"}}, w.Maintainers)
	require.Len(t, w.Parameters, 6)
	grace := w.Parameters[1]
	assert.Equal(t, catalog.Parameter{Name: "GRACE_SECONDS", Type: "integer", Description: "Grace period.",
		Minimum: new(0.0), Maximum: new(600.0), Default: []byte("30"), DependsOn: []string{"POD_NAME"}}, grace)
	assert.Equal(t, `["a","b"]`, string(w.Parameters[5].Default))
	assert.Len(t, w.RollbackParameters, 1)

	content := w.Content()
	assert.Contains(t, string(content), `"what":"Deletes one pod \u0026 waits for \u003cReady\u003e."`, "encoding/json escaping")
	assert.NotContains(t, string(content), "namespace", "metadata beyond the name is not content")
	assert.NotContains(t, string(content), "registeredBy", "status is not content")
}

func TestLoadErrors(t *testing.T) {
	replace := func(doc, old, new string) string {
		require.Contains(t, doc, old)
		return strings.Replace(doc, old, new, 1)
	}
	wf := func(old, new string) string { return replace(workflowYAML, old, new) }
	for _, tc := range []struct {
		name        string
		fsys        fstest.MapFS
		file        string
		doc         int
		field       string
		errContains string
	}{
		{"unknown kind", files("a.yaml", actionTypeYAML+"---\n"+wf("kind: RemediationWorkflow", "kind: Workflow")),
			"a.yaml", 2, "kind", `"Workflow"`},
		{"wrong apiVersion", files("a.yaml", strings.Replace(actionTypeYAML, "v1alpha1", "v1", 1)),
			"a.yaml", 1, "apiVersion", `"kubernaut.ai/v1"`},
		{"missing metadata.name of an action type", files("a.yaml", strings.Replace(actionTypeYAML, "metadata:\n  name: restart-pod\n", "metadata: {}\n", 1)),
			"a.yaml", 1, "metadata.name", "required"},
		{"missing spec.name of an action type", files("a.yaml", strings.Replace(actionTypeYAML, "  name: RestartPod\n", "", 1)),
			"a.yaml", 1, "spec.name", "required"},
		{"action type name not PascalCase", files("a.yaml", strings.Replace(actionTypeYAML, "name: RestartPod", "name: restart_pod", 1)),
			"a.yaml", 1, "spec.name", "must match"},
		{"action type without whenToUse", files("a.yaml", strings.Replace(actionTypeYAML, "    whenToUse: One pod is wedged.\n", "", 1)),
			"a.yaml", 1, "spec.description.whenToUse", "required"},
		{"action type defined twice", files("a.yaml", actionTypeYAML, "b.yaml", actionTypeYAML),
			"b.yaml", 1, "spec.name", "also in a.yaml"},
		{"missing workflow name", files("a.yaml", actionTypeYAML, "w.yaml", wf("name: restart-pod-standard", "name: \"\"")),
			"w.yaml", 1, "metadata.name", "required"},
		{"unknown action type", files("a.yaml", actionTypeYAML, "w.yaml", "# leading comment\n---\n"+wf("actionType: RestartPod", "actionType: RebootPod")),
			"w.yaml", 1, "spec.actionType", `unknown action type "RebootPod"`},
		{"missing whenToUse", files("a.yaml", actionTypeYAML, "w.yaml", wf("    whenToUse: One pod is wedged.\n", "")),
			"w.yaml", 1, "spec.description.whenToUse", "required"},
		{"bad severity", files("a.yaml", actionTypeYAML, "w.yaml", wf("severity: [critical, high]", "severity: [critical, urgent]")),
			"w.yaml", 1, "spec.labels.severity[1]", `"urgent" is not one of critical, high, warning, info or *`},
		{"missing severity", files("a.yaml", actionTypeYAML, "w.yaml", wf("    severity: [critical, high]\n", "")),
			"w.yaml", 1, "spec.labels.severity", "required"},
		{"empty environment value", files("a.yaml", actionTypeYAML, "w.yaml", wf(`environment: ["*"]`, `environment: ["*", ""]`)),
			"w.yaml", 1, "spec.labels.environment[1]", "empty value"},
		{"component a string, as in older CRDs", files("a.yaml", actionTypeYAML, "w.yaml", wf("component: [v1/Pod]", "component: v1/Pod")),
			"w.yaml", 1, "spec.labels.component", "got string, want []string"},
		{"bad priority", files("a.yaml", actionTypeYAML, "w.yaml", wf("priority: P1", "priority: P5")),
			"w.yaml", 1, "spec.labels.priority", `"P5" is not one of P0, P1, P2, P3 or *`},
		{"missing priority", files("a.yaml", actionTypeYAML, "w.yaml", wf("    priority: P1\n", "")),
			"w.yaml", 1, "spec.labels.priority", "required"},
		{"version not semver", files("a.yaml", actionTypeYAML, "w.yaml", wf("version: 1.0.0", "version: \"1.0\"")),
			"w.yaml", 1, "spec.version", "not a semantic version"},
		{"version with a v", files("a.yaml", actionTypeYAML, "w.yaml", wf("version: 1.0.0", "version: v1.0.0")),
			"w.yaml", 1, "spec.version", "not a semantic version"},
		{"version a number", files("a.yaml", actionTypeYAML, "w.yaml", wf("version: 1.0.0", "version: 1.0")),
			"w.yaml", 1, "spec.version", "got number, want string"},
		{"version defined twice", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"---\n"+workflowYAML),
			"w.yaml", 2, "spec.version", "defined twice"},
		{"bad status", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"status:\n  catalogStatus: Retired\n"),
			"w.yaml", 1, "status.catalogStatus", `"Retired"`},
		{"bad engine", files("a.yaml", actionTypeYAML, "w.yaml", wf("engine: job", "engine: argo")),
			"w.yaml", 1, "spec.execution.engine", `"argo" is not one of tekton, job, ansible`},
		{"custom label with several values", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  customLabels:\n    team: [payments]\n  execution:")),
			"w.yaml", 1, "spec.customLabels.team", "got array, want string"},
		{"detected boolean neither true nor false", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  detectedLabels:\n    hpaEnabled: \"yes\"\n  execution:")),
			"w.yaml", 1, "spec.detectedLabels.hpaEnabled", `want true, false, "true" or "false"`},
		{"detected string not a string", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  detectedLabels:\n    gitOpsTool: true\n  execution:")),
			"w.yaml", 1, "spec.detectedLabels.gitOpsTool", "want a string"},
		{"detected labels not an object", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  detectedLabels: [hpaEnabled]\n  execution:")),
			"w.yaml", 1, "spec.detectedLabels", "must be an object"},
		{"maintainer without email", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  maintainers: [{name: Ops, email: ops}]\n  execution:")),
			"w.yaml", 1, "spec.maintainers[0].email", "not an email address"},
		{"dependency without a name", files("a.yaml", actionTypeYAML, "w.yaml", wf("  execution:", "  dependencies: {secrets: [{name: \"\"}]}\n  execution:")),
			"w.yaml", 1, "spec.dependencies.secrets[0].name", "required"},
		{"no parameters", files("a.yaml", actionTypeYAML, "w.yaml", strings.SplitAfter(workflowYAML, "  parameters:")[0][:len(strings.SplitAfter(workflowYAML, "  parameters:")[0])-len("  parameters:")]),
			"w.yaml", 1, "spec.parameters", "at least one"},
		{"empty parameter list", files("a.yaml", actionTypeYAML, "w.yaml", strings.SplitAfter(workflowYAML, "  parameters:")[0]+" []\n"),
			"w.yaml", 1, "spec.parameters", "at least one"},
		{"parameter without required", files("a.yaml", actionTypeYAML, "w.yaml", wf("      required: true\n", "")),
			"w.yaml", 1, "spec.parameters[0].required", "required"},
		{"parameter without description", files("a.yaml", actionTypeYAML, "w.yaml", wf("      description: The pod.\n", "")),
			"w.yaml", 1, "spec.parameters[0].description", "required"},
		{"parameter of an unknown type", files("a.yaml", actionTypeYAML, "w.yaml", wf("type: string", "type: number")),
			"w.yaml", 1, "spec.parameters[0].type", `"number" is not one of string, integer, boolean, array, float`},
		{"parameter pattern not a regexp", files("a.yaml", actionTypeYAML, "w.yaml", wf(`"^[a-z0-9-]+$"`, `"^[a-z"`)),
			"w.yaml", 1, "spec.parameters[0].pattern", "missing closing ]"},
		{"parameter bounds reversed", files("a.yaml", actionTypeYAML, "w.yaml", wf("      pattern:", "      minimum: 5\n      maximum: 1\n      pattern:")),
			"w.yaml", 1, "spec.parameters[0].minimum", "above maximum"},
		{"parameter declared twice", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"    - {name: POD_NAME, type: string, required: false, description: again}\n"),
			"w.yaml", 1, "spec.parameters[1].name", "declared twice"},
		{"dependsOn an unknown parameter", files("a.yaml", actionTypeYAML, "w.yaml", wf("      pattern:", "      dependsOn: [NAMESPACE]\n      pattern:")),
			"w.yaml", 1, "spec.parameters[0].dependsOn[0]", `"NAMESPACE" is not a parameter`},
		{"dependsOn itself", files("a.yaml", actionTypeYAML, "w.yaml", wf("      pattern:", "      dependsOn: [POD_NAME]\n      pattern:")),
			"w.yaml", 1, "spec.parameters[0].dependsOn[0]", "itself"},
		{"status with another content hash", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"status:\n  contentHash: \""+strings.Repeat("0", 64)+"\"\n"),
			"w.yaml", 1, "status.contentHash", "its content hashes to"},
		{"status with another workflow id", files("a.yaml", actionTypeYAML, "w.yaml", workflowYAML+"status:\n  workflowId: 71d4f057-f74a-5b58-aaa6-5d4afd8d0d13\n"),
			"w.yaml", 1, "status.workflowId", "its content gives"},
		{"typo in a field name", files("a.yaml", actionTypeYAML, "w.yaml", wf("severity:", "severty:")),
			"w.yaml", 1, "spec.labels.severty", "unknown field"},
		{"old dialect: spec.name", files("a.yaml", actionTypeYAML, "w.yaml", wf("  actionType:", "  name: Restart\n  actionType:")),
			"w.yaml", 1, "spec.name", "unknown field"},
		{"field name in another case", files("a.yaml", actionTypeYAML, "w.yaml", wf("actionType:", "ActionType:")),
			"w.yaml", 1, "spec.ActionType", "unknown field"},
		{"wrong type", files("a.yaml", actionTypeYAML, "w.yaml", wf("severity: [critical, high]", "severity: critical")),
			"w.yaml", 1, "spec.labels.severity", "got string, want []string"},
		{"duplicate key", files("a.yaml", actionTypeYAML, "w.yaml", wf("    engine: job\n", "    engine: job\n    engine: tekton\n")),
			"w.yaml", 1, "", "engine"},
		{"NUL in an action type", files("a.yaml", strings.Replace(actionTypeYAML, "what: Deletes", `what: "\0 Deletes"`+" #", 1)),
			"a.yaml", 1, "spec.description.what", "must be valid UTF-8 without NUL"},
		{"NUL in a workflow name", files("a.yaml", actionTypeYAML, "w.yaml", wf("name: restart-pod-standard", `name: "restart\0"`)),
			"w.yaml", 1, "metadata.name", "must be valid UTF-8 without NUL"},
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

// A cluster document (JSON) that PostgreSQL could not store is refused,
// naming the field: a NUL, raw invalid UTF-8 or an unpaired surrogate.
func TestDecodeNamesTextPostgreSQLCannotStore(t *testing.T) {
	doc := `{"apiVersion":"kubernaut.ai/v1alpha1","kind":"ActionType","metadata":{"name":"restart-pod"},
		"spec":{"name":"RestartPod","description":{"what":"Deletes a pod.","whenToUse":"One pod is wedged."}}}`
	_, _, err := catalog.Decode([]byte(doc))
	require.NoError(t, err)
	for bad, field := range map[string]string{`\u0000`: "spec.description.whenToUse", "\xff": "spec.description.whenToUse",
		`\udc00`: "spec.description.whenToUse", "\xc0\x80": "spec.description.whenToUse"} {
		_, _, err := catalog.Decode([]byte(strings.Replace(doc, "One pod", "One"+bad+"pod", 1)))
		var le *catalog.LoadError
		require.ErrorAs(t, err, &le, "%q", bad)
		assert.Equal(t, field, le.Field, "%q", bad)
		assert.ErrorContains(t, err, "must be valid UTF-8 without NUL characters")
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
