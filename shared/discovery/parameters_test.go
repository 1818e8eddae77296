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
	c, err := catalog.New([]catalog.ActionType{{Name: "ScaleReplicas", Description: catalog.Description{What: "Scale", WhenToUse: "Load"}}},
		[]catalog.Workflow{{WorkflowName: "scale", WorkflowSpec: catalog.WorkflowSpec{
			Version: "1.0.0", Description: catalog.Description{What: "Scales", WhenToUse: "Load"}, ActionType: "ScaleReplicas",
			Labels:    catalog.Labels{Severity: []string{"*"}, Component: []string{"*"}, Environment: []string{"*"}, Priority: "*"},
			Execution: catalog.Execution{Engine: "tekton"},
			Parameters: []catalog.Parameter{
				{Name: "NAME", Type: catalog.TypeString, Required: true, Description: "Name", Pattern: "^[a-z-]+$"},
				{Name: "REPLICAS", Type: catalog.TypeInteger, Required: true, Description: "Count", Minimum: new(1.0), Maximum: new(50.0)},
				{Name: "MODE", Type: catalog.TypeString, Description: "Mode", Enum: []string{"fast", "safe"}},
				{Name: "RATIO", Type: catalog.TypeFloat, Description: "Ratio", Maximum: new(1.0), DependsOn: []string{"MODE"}},
				{Name: "DRY_RUN", Type: catalog.TypeBoolean, Description: "Dry run"},
				{Name: "NODES", Type: catalog.TypeArray, Description: "Nodes"},
				{Name: "LEVEL", Type: catalog.TypeInteger, Description: "Level", Enum: []string{"1", "2"}},
			}}}})
	require.NoError(t, err)
	return &c.Workflows()[0]
}

func TestValidateParametersAcceptsValidValues(t *testing.T) {
	errs, summary := ValidateParameters(workflow(t), json.RawMessage(
		`{"NAME":"api","REPLICAS":3,"MODE":"safe","RATIO":0.5,"DRY_RUN":false,"NODES":["a"],"LEVEL":2}`))
	assert.Empty(t, errs)
	assert.Equal(t, 7, summary.TotalParameters)
	assert.Equal(t, 2, summary.RequiredProvided)
	assert.Equal(t, 5, summary.OptionalProvided)
	assert.Empty(t, summary.ValidationErrors)
	assert.NotNil(t, summary.ValidationErrors, "an empty list, not null, in the audit payload")
}

func TestValidateParametersNamesEachProblem(t *testing.T) {
	w := workflow(t)
	for _, tc := range []struct {
		name, params string
		want         []ParamError
	}{
		{"required missing", `{"REPLICAS":3}`, []ParamError{{"NAME", "is required"}}},
		{"pattern", `{"NAME":"API!","REPLICAS":3}`, []ParamError{{"NAME", `"API!" does not match ^[a-z-]+$`}}},
		{"string type", `{"NAME":7,"REPLICAS":3}`, []ParamError{{"NAME", "must be a string"}}},
		{"integer type", `{"NAME":"a","REPLICAS":"3"}`, []ParamError{{"REPLICAS", "must be a number"}}},
		{"integer, not a fraction", `{"NAME":"a","REPLICAS":2.5}`, []ParamError{{"REPLICAS", "must be an integer"}}},
		{"integer written as 3.0 is an integer", `{"NAME":"a","REPLICAS":3.0}`, nil},
		{"minimum", `{"NAME":"a","REPLICAS":0}`, []ParamError{{"REPLICAS", "0 is below the minimum 1"}}},
		{"maximum", `{"NAME":"a","REPLICAS":500}`, []ParamError{{"REPLICAS", "500 is above the maximum 50"}}},
		{"enum", `{"NAME":"a","REPLICAS":3,"MODE":"yolo"}`, []ParamError{{"MODE", `"yolo" is not one of fast, safe`}}},
		{"integer enum", `{"NAME":"a","REPLICAS":3,"LEVEL":3}`, []ParamError{{"LEVEL", `"3" is not one of 1, 2`}}},
		{"float maximum", `{"NAME":"a","REPLICAS":3,"MODE":"fast","RATIO":1.5}`, []ParamError{{"RATIO", "1.5 is above the maximum 1"}}},
		{"dependsOn", `{"NAME":"a","REPLICAS":3,"RATIO":0.5}`, []ParamError{{"RATIO", "depends on MODE, which is not given"}}},
		{"boolean type", `{"NAME":"a","REPLICAS":3,"DRY_RUN":"false"}`, []ParamError{{"DRY_RUN", "must be a boolean"}}},
		{"array type", `{"NAME":"a","REPLICAS":3,"NODES":"a"}`, []ParamError{{"NODES", "must be an array"}}},
		{"undeclared", `{"NAME":"a","REPLICAS":3,"ZONE":"x","AREA":1}`, []ParamError{
			{"AREA", "is not a parameter of this workflow"}, {"ZONE", "is not a parameter of this workflow"}}},
		{"several at once, in declaration order", `{"NAME":"A","RATIO":"x"}`, []ParamError{
			{"NAME", `"A" does not match ^[a-z-]+$`}, {"REPLICAS", "is required"}, {"RATIO", "must be a number"},
			{"RATIO", "depends on MODE, which is not given"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, summary := ValidateParameters(w, json.RawMessage(tc.params))
			if tc.want == nil {
				tc.want = []ParamError{}
			}
			assert.Equal(t, tc.want, errs)
			require.Len(t, summary.ValidationErrors, len(errs))
			for i, e := range errs {
				assert.Equal(t, e.Parameter+": "+e.Message, summary.ValidationErrors[i])
			}
		})
	}
}
