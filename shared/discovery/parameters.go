package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"function/shared/auditevent"
	"function/shared/catalog"
)

// ParamError is one problem with a proposed parameter.
type ParamError struct {
	Parameter string `json:"parameter"`
	Message   string `json:"message"`
}

// schemaShape is the part of a workflow's parameter schema the audit
// summary counts.
type schemaShape struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
}

// CountParameters is the number of parameters a workflow declares.
func CountParameters(w *catalog.Workflow) int {
	var s schemaShape
	_ = json.Unmarshal(w.Parameters, &s) // compiled at load, so well-formed
	return len(s.Properties)
}

// ValidateParameters checks proposed parameters against the workflow's
// parameter schema (types, required, enum, pattern, bounds) and summarises
// the check for the audit event.
func ValidateParameters(w *catalog.Workflow, params json.RawMessage) ([]ParamError, auditevent.ParameterValidation) {
	var shape schemaShape
	_ = json.Unmarshal(w.Parameters, &shape)
	summary := auditevent.ParameterValidation{TotalParameters: len(shape.Properties), ValidationErrors: []string{}}
	var given map[string]json.RawMessage
	_ = json.Unmarshal(params, &given)
	for name := range given {
		if slices.Contains(shape.Required, name) {
			summary.RequiredProvided++
		} else if _, declared := shape.Properties[name]; declared {
			summary.OptionalProvided++
		}
	}

	errs := []ParamError{}
	schema, err := w.ParameterSchema()
	if err != nil {
		errs = append(errs, ParamError{Message: "the workflow's parameter schema does not compile: " + err.Error()})
	} else if instance, err := jsonschema.UnmarshalJSON(bytes.NewReader(params)); err != nil {
		errs = append(errs, ParamError{Message: "parameters are not valid JSON"})
	} else if err := schema.Validate(instance); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			errs = append(errs, ParamError{Message: err.Error()})
		} else {
			errs = append(errs, flatten(ve)...)
		}
	}
	for _, e := range errs {
		summary.ValidationErrors = append(summary.ValidationErrors, strings.TrimPrefix(e.Parameter+": "+e.Message, ": "))
	}
	return errs, summary
}

// flatten turns a validation error tree into one error per failing
// parameter; a missing required parameter is named as such.
func flatten(ve *jsonschema.ValidationError) []ParamError {
	var out []ParamError
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		param := strings.ReplaceAll(strings.TrimPrefix(u.InstanceLocation, "/"), "/", ".")
		if req, ok := u.Error.Kind.(*kind.Required); ok && param == "" {
			for _, m := range req.Missing {
				out = append(out, ParamError{Parameter: m, Message: "is required"})
			}
			continue
		}
		if _, ok := u.Error.Kind.(*kind.Group); ok {
			continue // a summary of the errors listed beside it
		}
		out = append(out, ParamError{Parameter: param, Message: u.Error.String()})
	}
	return out
}
