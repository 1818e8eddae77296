package catalog_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalog"
)

var actionTypes = []catalog.ActionType{
	{Name: "ScaleReplicas", Description: describe("Scales.")},
	{Name: "RestartPod", Description: describe("Restarts.")},
	{Name: "DrainNode", Description: describe("Drains.")},
}

func describe(what string) catalog.Description {
	return catalog.Description{What: what, WhenToUse: "When " + what}
}

// workflow is a valid Active RestartPod workflow with the typical labels,
// changed by the options.
func workflow(name, version string, options ...func(*catalog.Workflow)) catalog.Workflow {
	w := catalog.Workflow{
		WorkflowName: name,
		WorkflowSpec: catalog.WorkflowSpec{
			Version:     version,
			Description: describe("Does " + name + "."),
			ActionType:  "RestartPod",
			Labels:      typical,
			Execution:   catalog.Execution{Engine: "job"},
			Parameters:  []catalog.Parameter{{Name: "NAME", Type: catalog.TypeString, Description: "A name."}},
		},
	}
	for _, o := range options {
		o(&w)
	}
	return w
}

func action(a string) func(*catalog.Workflow) {
	return func(w *catalog.Workflow) { w.ActionType = a }
}

func status(s catalog.Status) func(*catalog.Workflow) {
	return func(w *catalog.Workflow) { w.Status = s }
}

// detected sets the workflow's detectedLabels document.
func detected(doc string) func(*catalog.Workflow) {
	return func(w *catalog.Workflow) { w.DetectedLabels = []byte(doc) }
}

func mustNew(t *testing.T, workflows ...catalog.Workflow) *catalog.Catalog {
	t.Helper()
	c, err := catalog.New(actionTypes, workflows)
	require.NoError(t, err)
	return c
}

func names(ranked []catalog.Ranked) []string {
	var out []string
	for _, r := range ranked {
		out = append(out, r.Workflow.WorkflowName+"@"+r.Workflow.Version)
	}
	return out
}

func TestLatestVersionOnly(t *testing.T) {
	c := mustNew(t,
		workflow("restart", "1.9.0"),
		workflow("restart", "1.10.0"), // semantic, not lexical, order
		workflow("restart", "1.2.0"),
		workflow("restart", "1.10.0-rc.1"),
		workflow("other", "0.1.0"),
	)
	got, total := c.ListWorkflows("RestartPod", catalog.Filter{}, 0, 10)
	assert.Equal(t, 2, total)
	assert.ElementsMatch(t, []string{"restart@1.10.0", "other@0.1.0"}, names(got))

	for _, w := range c.Workflows() {
		_, found := c.Get(w.WorkflowID)
		assert.Equal(t, w.Version == "1.10.0" || w.WorkflowName == "other", found, "%s@%s", w.WorkflowName, w.Version)
	}
	assert.Len(t, c.Workflows(), 5, "Workflows returns every version")
}

func TestOnlyActiveIsDiscoverable(t *testing.T) {
	c := mustNew(t,
		workflow("active", "1.0.0"),
		workflow("disabled", "1.0.0", status(catalog.StatusDisabled)),
		workflow("deprecated", "1.0.0", status(catalog.StatusDeprecated)),
		// Disabling the latest version hides the workflow: it does not bring 1.0.0 back.
		workflow("pulled", "1.0.0"),
		workflow("pulled", "2.0.0", status(catalog.StatusDisabled)),
		workflow("pending", "1.0.0", status(catalog.StatusPending)),
		workflow("superseded", "1.0.0", status(catalog.StatusSuperseded)),
	)
	got, total := c.ListWorkflows("RestartPod", catalog.Filter{}, 0, 10)
	assert.Equal(t, 1, total)
	assert.Equal(t, []string{"active@1.0.0"}, names(got))

	actions, _ := c.ListActions(catalog.Filter{}, 0, 10)
	require.Len(t, actions, 1)
	assert.Equal(t, 1, actions[0].WorkflowCount)

	for _, w := range c.Workflows() {
		_, found := c.Get(w.WorkflowID)
		assert.Equal(t, w.WorkflowName == "active", found, w.WorkflowName)
	}
}

func TestStatusDefaultsToActive(t *testing.T) {
	c := mustNew(t, workflow("restart", "1.0.0"))
	assert.Equal(t, catalog.StatusActive, c.Workflows()[0].Status)
}

func TestListActions(t *testing.T) {
	c := mustNew(t,
		workflow("scale-a", "1.0.0", action("ScaleReplicas")),
		workflow("scale-b", "1.0.0", action("ScaleReplicas"), func(w *catalog.Workflow) { w.Labels.Severity = []string{"info"} }),
		workflow("restart", "1.0.0"),
		workflow("drain", "1.0.0", action("DrainNode"), status(catalog.StatusDisabled)),
	)

	all, total := c.ListActions(catalog.Filter{}, 0, 10)
	assert.Equal(t, 2, total, "DrainNode has no active workflow")
	assert.Equal(t, []catalog.ActionSummary{
		{ActionType: "RestartPod", Description: describe("Restarts."), WorkflowCount: 1},
		{ActionType: "ScaleReplicas", Description: describe("Scales."), WorkflowCount: 2},
	}, all, "sorted by action type")

	matching, total := c.ListActions(catalog.Filter{Severity: "info"}, 0, 10)
	assert.Equal(t, 1, total)
	assert.Equal(t, []catalog.ActionSummary{
		{ActionType: "ScaleReplicas", Description: describe("Scales."), WorkflowCount: 1},
	}, matching, "only matching workflows count")

	none, total := c.ListActions(catalog.Filter{Component: "v1/Node"}, 0, 10)
	assert.Zero(t, total)
	assert.NotNil(t, none, "an empty page, not nil, so it encodes as []")
	assert.Empty(t, none)
}

func TestPagination(t *testing.T) {
	var workflows []catalog.Workflow
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		workflows = append(workflows, workflow(name, "1.0.0"))
	}
	c := mustNew(t, workflows...)
	ranked, total := c.ListWorkflows("RestartPod", catalog.Filter{}, 0, 100)
	require.Equal(t, 5, total)

	for _, tc := range []struct {
		name          string
		offset, limit int
		want          []catalog.Ranked
	}{
		{"first page", 0, 2, ranked[0:2]},
		{"middle page", 2, 2, ranked[2:4]},
		{"last, short page", 4, 2, ranked[4:5]},
		{"offset at the end", 5, 2, []catalog.Ranked{}},
		{"offset past the end", 50, 2, []catalog.Ranked{}},
		{"negative offset counts as 0", -3, 2, ranked[0:2]},
		{"zero limit", 0, 0, []catalog.Ranked{}},
		{"negative limit counts as 0", 0, -1, []catalog.Ranked{}},
		{"huge limit", 1, int(^uint(0) >> 1), ranked[1:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, total := c.ListWorkflows("RestartPod", catalog.Filter{}, tc.offset, tc.limit)
			assert.Equal(t, 5, total, "total counts every match, not the page")
			assert.Equal(t, tc.want, page)
		})
	}
	for i, r := range ranked {
		assert.Equal(t, i+1, r.Rank, "ranks are over the whole list")
	}
	page, _ := c.ListWorkflows("RestartPod", catalog.Filter{}, 3, 1)
	assert.Equal(t, 4, page[0].Rank)

	actions, total := c.ListActions(catalog.Filter{}, 1, 10)
	assert.Equal(t, 1, total)
	assert.Empty(t, actions)
}

func TestRanking(t *testing.T) {
	yes := new(true)
	c := mustNew(t,
		workflow("plain", "1.0.0"),
		workflow("gitops", "1.0.0", detected(`{"gitOpsManaged":"true","gitOpsTool":"argocd"}`)),
		workflow("gitops-any", "1.0.0", detected(`{"gitOpsManaged":true,"gitOpsTool":"*"}`)),
		workflow("flux", "1.0.0", detected(`{"gitOpsManaged":"true","gitOpsTool":"flux"}`)),
	)
	f := catalog.Filter{Severity: "critical", DetectedLabels: catalog.DetectedLabels{GitOpsManaged: yes, GitOpsTool: "argocd"}}
	got, total := c.ListWorkflows("RestartPod", f, 0, 10)
	assert.Equal(t, 3, total, "flux is excluded by the gitOpsTool hard filter")
	assert.Equal(t, []string{"gitops@1.0.0", "gitops-any@1.0.0", "plain@1.0.0"}, names(got))
	assert.Equal(t, []float64{0.52, 0.515, 0.48}, []float64{got[0].Score, got[1].Score, got[2].Score})
	assert.Equal(t, []int{1, 2, 3}, []int{got[0].Rank, got[1].Rank, got[2].Rank})
}

func TestTiesBreakOnWorkflowID(t *testing.T) {
	// Equal scores: resourceQuotaConstrained carries no weight, and the others
	// declare nothing the filter asks for.
	c := mustNew(t,
		workflow("one", "1.0.0", detected(`{"resourceQuotaConstrained":"true"}`)),
		workflow("two", "1.0.0"),
		workflow("three", "1.0.0", detected(`{"helmManaged":"true"}`)),
		workflow("four", "1.0.0"),
	)
	f := catalog.Filter{DetectedLabels: catalog.DetectedLabels{ResourceQuotaConstrained: new(true)}}
	got, _ := c.ListWorkflows("RestartPod", f, 0, 10)
	require.Len(t, got, 4)
	for _, r := range got {
		assert.Equal(t, 0.5, r.Score)
	}
	assert.True(t, slices.IsSortedFunc(got, func(a, b catalog.Ranked) int {
		return bytes.Compare(a.Workflow.WorkflowID[:], b.Workflow.WorkflowID[:])
	}), "ties ordered by workflowId ascending")
	assert.True(t, slices.IsSortedFunc(got, func(a, b catalog.Ranked) int {
		return strings.Compare(a.Workflow.WorkflowID.String(), b.Workflow.WorkflowID.String())
	}), "which is the order of the id strings")
}

func TestUnknownActionTypeListsNothing(t *testing.T) {
	c := mustNew(t, workflow("restart", "1.0.0"))
	got, total := c.ListWorkflows("NoSuchAction", catalog.Filter{}, 0, 10)
	assert.Zero(t, total)
	assert.NotNil(t, got)
	assert.Empty(t, got)
}

func TestGet(t *testing.T) {
	c := mustNew(t, workflow("restart", "1.0.0"))
	w := c.Workflows()[0]
	got, ok := c.Get(w.WorkflowID)
	require.True(t, ok)
	assert.Equal(t, "restart", got.WorkflowName)

	_, ok = c.Get(uuid.New())
	assert.False(t, ok)
}

func TestSecurityGateUsesTheHardFilters(t *testing.T) {
	c := mustNew(t, workflow("restart", "1.0.0"))
	w, _ := c.Get(c.Workflows()[0].WorkflowID)
	assert.True(t, catalog.Matches(w, catalog.Filter{Severity: "critical", Environment: "production"}))
	assert.False(t, catalog.Matches(w, catalog.Filter{Environment: "development"}))
}

func TestNewReplacesGivenIdentity(t *testing.T) {
	w := workflow("restart", "1.0.0")
	w.ContentHash, w.WorkflowID = "forged", uuid.New()
	c := mustNew(t, w)
	got := c.Workflows()[0]
	assert.NotEqual(t, "forged", got.ContentHash)
	assert.Len(t, got.ContentHash, 64)
	_, ok := c.Get(got.WorkflowID)
	assert.True(t, ok)
}
