package routes_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/routes"
)

func TestLookupSendsEachPathToItsFunction(t *testing.T) {
	for path, fn := range map[string]string{
		"/api/v1/workflows/actions":                                       "actions",
		"/api/v1/workflows/actions/ScaleReplicas":                         "workflows",
		"/api/v1/workflows/6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b":          "workflow",
		"/api/v1/workflows/6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b/validate": "validate",
		"/api/v1/workflows/actions/validate":                              "workflows",
		"/api/v1/audit/events":                                            "query",
		"/api/v1/audit/verify":                                            "query",
		"/mutate-workflowexecution":                                       "blockclear",
		"/":                                                               "",
		"/api/v1/workflowsX":                                              "",
		"/mutate-workflowexecution/x":                                     "",
	} {
		assert.Equal(t, fn, routes.Lookup(path), path)
	}
}
