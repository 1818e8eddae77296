package catalog_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalog"
)

func loadWorkflow(t *testing.T, doc string) catalog.Workflow {
	t.Helper()
	c, err := catalog.LoadDir(files("a.yaml", actionTypeYAML, "w.yaml", doc))
	require.NoError(t, err)
	require.Len(t, c.Workflows(), 1)
	return c.Workflows()[0]
}

// vectorsDir holds Kubernaut's own identity test vectors (compat §5), copied
// from ../shared/kubernaut-vectors so any clone has them.
const vectorsDir = "testdata/kubernaut-vectors"

// The documents of the vectors get, byte for byte, the clean content and
// the content hash and workflow id that Kubernaut's code computes.
func TestKubernautIdentityVectors(t *testing.T) {
	f, err := os.Open(filepath.Join(vectorsDir, "expected.txt"))
	require.NoError(t, err)
	defer f.Close()
	actionTypes := files("a.yaml", `apiVersion: kubernaut.ai/v1alpha1
kind: ActionType
metadata: {name: scale-replicas}
spec: {name: ScaleReplicas, description: {what: Scales., whenToUse: Load.}}
---
apiVersion: kubernaut.ai/v1alpha1
kind: ActionType
metadata: {name: restart-pod}
spec: {name: RestartPod, description: {what: Restarts., whenToUse: Wedged.}}
`)
	checked := 0
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) != 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		name, wantHash, wantID := fields[0], fields[1], fields[2]
		t.Run(name, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(vectorsDir, name+".yaml"))
			require.NoError(t, err)
			wantContent, err := os.ReadFile(filepath.Join(vectorsDir, name+".content.json"))
			require.NoError(t, err)

			fsys := actionTypes
			fsys["w.yaml"] = files("w.yaml", string(doc))["w.yaml"]
			c, err := catalog.LoadDir(fsys)
			require.NoError(t, err)
			w := c.Workflows()[0]
			content := w.Content()
			assert.Equal(t, string(wantContent), string(content))
			sum := sha256.Sum256(content)
			assert.Equal(t, hex.EncodeToString(sum[:]), w.ContentHash, "the hash is of the content")
			assert.Equal(t, wantHash, w.ContentHash)
			assert.Equal(t, wantID, w.WorkflowID.String())
		})
		checked++
	}
	require.NoError(t, lines.Err())
	assert.Equal(t, 2, checked, "both vectors checked")
}

func TestWorkflowIDIsTheUUIDv5OfTheHash(t *testing.T) {
	w := loadWorkflow(t, workflowYAML)
	namespace := uuid.MustParse("6ba7b810-9dad-51d0-80b7-00c04fd430c8")
	assert.Equal(t, uuid.NewSHA1(namespace, []byte(w.ContentHash)), w.WorkflowID)
	assert.Equal(t, uuid.Version(5), w.WorkflowID.Version())
}

// reformattedYAML is workflowYAML written another way.
const reformattedYAML = `# The same workflow: other key order, flow style, quoting, comments,
# and empty optional fields written out.
kind: "RemediationWorkflow"
apiVersion: kubernaut.ai/v1alpha1
metadata: {name: 'restart-pod-standard', namespace: other, labels: {a: b}}
spec:
  execution: {engine: job, bundle: ""}   # a Job, not a Pipeline
  customLabels: {}
  parameters: [{pattern: "^[a-z0-9-]+$", description: The pod., type: string, name: POD_NAME, required: true, enum: []}]
  labels: {priority: P1, component: [v1/Pod], environment: ['*'], severity: [critical, high], cluster: []}
  actionType: RestartPod
  description: {whenToUse: "One pod is wedged.", what: "Deletes one pod.", whenNotToUse: ""}
  version: "1.0.0"
`

func TestContentHash(t *testing.T) {
	base := loadWorkflow(t, workflowYAML)
	for _, tc := range []struct {
		name string
		doc  string
		same bool
	}{
		{"reformatted", reformattedYAML, true},
		{"status Disabled", workflowYAML + "status:\n  catalogStatus: Disabled\n", true},
		{"status Active written out", workflowYAML + "status: {catalogStatus: Active}\n", true},
		{"status with its own identity", workflowYAML + "status: {workflowId: " + base.WorkflowID.String() + ", contentHash: " + base.ContentHash + "}\n", true},
		{"description", strings.Replace(workflowYAML, "Deletes one pod.", "Deletes a pod.", 1), false},
		{"label value", strings.Replace(workflowYAML, "priority: P1", "priority: P2", 1), false},
		{"label order", strings.Replace(workflowYAML, "[critical, high]", "[high, critical]", 1), false},
		{"parameter", strings.Replace(workflowYAML, "[a-z0-9-]", "[a-z0-9.-]", 1), false},
		{"required false written out is content", strings.Replace(workflowYAML, "required: true", "required: false", 1), false},
		{"version", strings.Replace(workflowYAML, "version: 1.0.0", "version: 1.0.1", 1), false},
		{"workflow name", strings.Replace(workflowYAML, "name: restart-pod-standard", "name: restart-pod-other", 1), false},
		{"detected label", strings.Replace(workflowYAML, "  execution:", "  detectedLabels: {stateful: false}\n  execution:", 1), false},
		{"detected label as a string", strings.Replace(workflowYAML, "  execution:", "  detectedLabels: {stateful: \"false\"}\n  execution:", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := loadWorkflow(t, tc.doc)
			if tc.same {
				assert.Equal(t, base.ContentHash, w.ContentHash)
				assert.Equal(t, base.WorkflowID, w.WorkflowID)
			} else {
				assert.NotEqual(t, base.ContentHash, w.ContentHash)
				assert.NotEqual(t, base.WorkflowID, w.WorkflowID)
			}
		})
	}
}

// Free-form fields hash as the API server stores them: key order and
// number spelling do not matter.
func TestFreeFormFieldsAreNormalised(t *testing.T) {
	with := func(engineConfig string) catalog.Workflow {
		return loadWorkflow(t, strings.Replace(workflowYAML, "    engine: job\n", "    engine: job\n    engineConfig: "+engineConfig+"\n", 1))
	}
	a, b := with(`{b: 10, a: [1.5]}`), with(`{a: [1.50], b: 1.0e1}`)
	assert.Equal(t, a.ContentHash, b.ContentHash)
	assert.Equal(t, `{"a":[1.5],"b":10}`, string(a.Execution.EngineConfig))
	assert.Nil(t, with("null").Execution.EngineConfig, "null is no value")
}

// A workflow read back from its content (as a snapshot load does) gets the
// identity the loader gave it, with the same fields.
func TestParseContentRoundTrip(t *testing.T) {
	w := loadWorkflow(t, fullWorkflowYAML)
	content := w.Content()
	parsed, err := catalog.ParseContent(content, catalog.StatusDeprecated)
	require.NoError(t, err)
	_, err = catalog.New(nil, []catalog.Workflow{parsed})
	require.Error(t, err, "its action type is unknown to an empty catalog")
	a, err := catalog.LoadDir(files("a.yaml", actionTypeYAML))
	require.NoError(t, err)
	c, err := catalog.New(a.ActionTypes(), []catalog.Workflow{parsed})
	require.NoError(t, err)
	got := c.Workflows()[0]
	assert.Equal(t, w.WorkflowID, got.WorkflowID)
	assert.Equal(t, w.WorkflowSpec, got.WorkflowSpec)
	assert.Equal(t, w.Detected, got.Detected)
	assert.Equal(t, catalog.StatusDeprecated, got.Status)

	_, err = catalog.ParseContent([]byte(`{"apiVersion":"kubernaut.ai/v1alpha1","kind":"ActionType"}`), catalog.StatusActive)
	assert.ErrorContains(t, err, "want kubernaut.ai/v1alpha1 RemediationWorkflow")
	_, err = catalog.ParseContent([]byte(`{"kind":`), catalog.StatusActive)
	assert.Error(t, err)
}
