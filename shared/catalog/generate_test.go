package catalog_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalog"
)

func TestGenerateIsDeterministicAndLoads(t *testing.T) {
	a, b := catalog.Generate(200, 7), catalog.Generate(200, 7)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, catalog.Generate(200, 8))

	c, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: a}})
	require.NoError(t, err)
	assert.Len(t, c.ActionTypes(), 10)
	assert.Len(t, c.Workflows(), 200)
	_, total := c.ListActions(catalog.Filter{}, 0, 100)
	assert.Equal(t, 10, total)
}

// benchFilter is a typical signal: the four required filters, detected
// labels and a custom label.
var benchFilter = catalog.Filter{
	Severity: "critical", Component: "apps/v1/Deployment", Environment: "production", Priority: "P1",
	CustomLabels: map[string][]string{"team": {"payments"}},
	DetectedLabels: catalog.DetectedLabels{
		GitOpsManaged: new(true), PDBProtected: new(true), GitOpsTool: "argocd", ServiceMesh: "istio",
	},
}

func BenchmarkListWorkflows(b *testing.B) {
	c, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: catalog.Generate(1000, 1)}})
	require.NoError(b, err)
	for _, bc := range []struct {
		name   string
		filter catalog.Filter
	}{
		{"typical-filter", benchFilter},
		// Nothing that excludes: every discoverable workflow of the type is
		// scored and ranked.
		{"all-match", catalog.Filter{
			CustomLabels:   benchFilter.CustomLabels,
			DetectedLabels: catalog.DetectedLabels{GitOpsManaged: new(true), PDBProtected: new(true)},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				_, total = c.ListWorkflows("ScaleReplicas", bc.filter, 0, 10)
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

func BenchmarkListActions(b *testing.B) {
	c, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: catalog.Generate(1000, 1)}})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		c.ListActions(benchFilter, 0, 10)
	}
}
