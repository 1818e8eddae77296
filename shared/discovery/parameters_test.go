package discovery

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalog"
)

func workflow(t *testing.T) *catalog.Workflow {
	t.Helper()
	c, err := catalog.New([]catalog.ActionType{{Name: "ScaleReplicas", Description: catalog.Description{What: "Scale"}}},
		[]catalog.Workflow{{WorkflowName: "scale", WorkflowSpec: catalog.WorkflowSpec{
			Version: "1.0.0", Name: "Scale", Description: catalog.Description{What: "Scales"}, ActionType: "ScaleReplicas",
			Labels:          catalog.Labels{Severity: []string{"*"}, Component: []string{"*"}, Environment: []string{"*"}, Priority: "*"},
			ExecutionEngine: "tekton",
			Parameters: json.RawMessage(`{"type":"object","required":["NAME","REPLICAS"],"additionalProperties":false,
				"properties":{"NAME":{"type":"string","pattern":"^[a-z-]+$"},"REPLICAS":{"type":"integer","minimum":1,"maximum":50},
				"MODE":{"enum":["fast","safe"]}}}`)}}})
	require.NoError(t, err)
	return &c.Workflows()[0]
}

func TestValidateParametersNamesEachProblem(t *testing.T) {
	w := workflow(t)
	errs, summary := ValidateParameters(w, json.RawMessage(`{"NAME":"api","REPLICAS":3,"MODE":"safe"}`))
	assert.Empty(t, errs)
	assert.Equal(t, 3, summary.TotalParameters)
	assert.Equal(t, 2, summary.RequiredProvided)
	assert.Equal(t, 1, summary.OptionalProvided)

	errs, summary = ValidateParameters(w, json.RawMessage(`{"NAME":"API!","REPLICAS":500,"MODE":"yolo"}`))
	params := map[string]bool{}
	for _, e := range errs {
		params[e.Parameter] = true
		assert.NotEmpty(t, e.Message)
	}
	assert.Equal(t, map[string]bool{"NAME": true, "REPLICAS": true, "MODE": true}, params)
	assert.Len(t, summary.ValidationErrors, len(errs))

	errs, _ = ValidateParameters(w, json.RawMessage(`{"REPLICAS":"three"}`))
	params = map[string]bool{}
	for _, e := range errs {
		params[e.Parameter] = true
	}
	assert.True(t, params["NAME"], "missing required parameter named: %+v", errs)
	assert.True(t, params["REPLICAS"], "wrong type named: %+v", errs)
}
