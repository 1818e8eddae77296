package catalog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"function/shared/catalog"
)

func loadWorkflow(t *testing.T, doc string) catalog.Workflow {
	t.Helper()
	c, err := catalog.LoadDir(files("a.yaml", actionTypeYAML, "w.yaml", doc))
	require.NoError(t, err)
	require.Len(t, c.Workflows(), 1)
	return c.Workflows()[0]
}

func TestContentHashIsTheDocumentsCanonicalJSON(t *testing.T) {
	w := loadWorkflow(t, workflowYAML)

	// Computed independently: the YAML document as JSON, canonicalised, hashed.
	j, err := yaml.YAMLToJSON([]byte(workflowYAML))
	require.NoError(t, err)
	canonical, err := jcs.Transform(j)
	require.NoError(t, err)
	sum := sha256.Sum256(canonical)
	assert.Equal(t, hex.EncodeToString(sum[:]), w.ContentHash)

	content, err := w.Content()
	require.NoError(t, err)
	assert.Equal(t, string(canonical), string(content), "Content is what the hash covers")

	namespace := uuid.MustParse("6ba7b810-9dad-51d0-80b7-00c04fd430c8")
	assert.Equal(t, uuid.NewSHA1(namespace, []byte(w.ContentHash)), w.WorkflowID)
	assert.Equal(t, uuid.Version(5), w.WorkflowID.Version())

	// Pinned: if this changes, every workflow id changes.
	assert.Equal(t, "7fce5b1c6055dc3471dc3016db178636fb25d91ab166cff3f7f299606a2362fc", w.ContentHash)
}

const reformattedYAML = `# The same workflow: other key order, flow style, quoting, comments,
# number spelling, and empty optional fields written out.
kind: "RemediationWorkflow"
apiVersion: kubernaut.ai/v1alpha1
metadata: {name: 'restart-pod-standard'}
spec:
  executionEngine: job   # a Job, not a Pipeline
  executionBundle: ""
  owner: ""
  customLabels: {}
  detectedLabels: {}
  parameters: {properties: {POD_NAME: {pattern: "^[a-z0-9-]+$", type: string}}, required: [POD_NAME], type: object}
  labels: {priority: P1, environment: ['*'], component: [v1/Pod], severity: [critical, high]}
  actionType: RestartPod
  description: {what: "Deletes one pod.", whenToUse: ""}
  name: "Restart one pod"
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
		{"description", strings.Replace(workflowYAML, "Deletes one pod.", "Deletes a pod.", 1), false},
		{"label value", strings.Replace(workflowYAML, "priority: P1", "priority: P2", 1), false},
		{"label order", strings.Replace(workflowYAML, "[critical, high]", "[high, critical]", 1), false},
		{"parameter schema", strings.Replace(workflowYAML, "[a-z0-9-]", "[a-z0-9.-]", 1), false},
		{"version", strings.Replace(workflowYAML, "version: 1.0.0", "version: 1.0.1", 1), false},
		{"workflow name", strings.Replace(workflowYAML, "name: restart-pod-standard", "name: restart-pod-other", 1), false},
		{"detected label", strings.Replace(workflowYAML, "  executionEngine", "  detectedLabels: {stateful: false}\n  executionEngine", 1), false},
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

func TestContentHashIgnoresNumberSpelling(t *testing.T) {
	a := loadWorkflow(t, strings.Replace(workflowYAML, "type: object\n", "type: object\n    maxProperties: 10\n", 1))
	b := loadWorkflow(t, strings.Replace(workflowYAML, "type: object\n", "type: object\n    maxProperties: 1.0e1\n", 1))
	assert.Equal(t, a.ContentHash, b.ContentHash)
}

// A workflow read back from its content (as a snapshot load does) gets the
// identity the loader gave it, with the same fields.
func TestParseContentRoundTrip(t *testing.T) {
	w := loadWorkflow(t, workflowYAML)
	content, err := w.Content()
	require.NoError(t, err)
	parsed, err := catalog.ParseContent(content, catalog.StatusDeprecated)
	require.NoError(t, err)
	c, err := catalog.New(nil, []catalog.Workflow{parsed})
	require.Error(t, err, "its action type is unknown to an empty catalog")
	a, err := catalog.LoadDir(files("a.yaml", actionTypeYAML))
	require.NoError(t, err)
	c, err = catalog.New(a.ActionTypes(), []catalog.Workflow{parsed})
	require.NoError(t, err)
	got := c.Workflows()[0]
	assert.Equal(t, w.WorkflowID, got.WorkflowID)
	assert.Equal(t, w.WorkflowSpec, got.WorkflowSpec)
	assert.Equal(t, catalog.StatusDeprecated, got.Status)

	_, err = catalog.ParseContent([]byte(`{"apiVersion":"kubernaut.ai/v1alpha1","kind":"ActionType"}`), catalog.StatusActive)
	assert.ErrorContains(t, err, "want kubernaut.ai/v1alpha1 RemediationWorkflow")
	_, err = catalog.ParseContent([]byte(`{"kind":`), catalog.StatusActive)
	assert.Error(t, err)
}
