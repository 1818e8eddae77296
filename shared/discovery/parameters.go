package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"function/shared/auditevent"
	"function/shared/catalog"
)

// ParamError is one problem with a proposed parameter.
type ParamError struct {
	Parameter string `json:"parameter"`
	Message   string `json:"message"`
}

// CountParameters is the number of parameters a workflow declares.
func CountParameters(w *catalog.Workflow) int { return len(w.Parameters) }

// ValidateParameters checks proposed parameters (a JSON object, name →
// value) against the workflow's parameter list, in Kubernaut's terms
// (docs/decisions.md, "Parameter validation"): every parameter it declares
// is checked for required, type, minimum/maximum, enum, pattern and
// dependsOn, and a name it does not declare is an error. It summarises the
// check for the audit event. Errors come in declaration order, undeclared
// names last and sorted, so the same proposal always gives the same answer.
func ValidateParameters(w *catalog.Workflow, params json.RawMessage) ([]ParamError, auditevent.ParameterValidation) {
	summary := auditevent.ParameterValidation{TotalParameters: len(w.Parameters), ValidationErrors: []string{}}
	errs := []ParamError{}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(params, &given); err != nil {
		errs = append(errs, ParamError{Message: "parameters must be a JSON object of parameter values"})
	}
	declared := map[string]bool{}
	for i := range w.Parameters {
		p := &w.Parameters[i]
		declared[p.Name] = true
		value, ok := given[p.Name]
		switch {
		case !ok && p.Required:
			errs = append(errs, ParamError{p.Name, "is required"})
			continue
		case !ok:
			continue
		case p.Required:
			summary.RequiredProvided++
		default:
			summary.OptionalProvided++
		}
		if msg := checkValue(p, w.ParameterPattern(i), value); msg != "" {
			errs = append(errs, ParamError{p.Name, msg})
		}
		for _, dep := range p.DependsOn {
			if _, ok := given[dep]; !ok {
				errs = append(errs, ParamError{p.Name, fmt.Sprintf("depends on %s, which is not given", dep)})
			}
		}
	}
	var undeclared []string
	for name := range given {
		if !declared[name] {
			undeclared = append(undeclared, name)
		}
	}
	slices.Sort(undeclared)
	for _, name := range undeclared {
		errs = append(errs, ParamError{name, "is not a parameter of this workflow"})
	}
	for _, e := range errs {
		summary.ValidationErrors = append(summary.ValidationErrors, strings.TrimPrefix(e.Parameter+": "+e.Message, ": "))
	}
	return errs, summary
}

// checkValue checks one given value against its parameter and the
// parameter's compiled pattern, returning the first problem, or "".
func checkValue(p *catalog.Parameter, pattern *regexp.Regexp, raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	var n float64
	switch p.Type {
	case catalog.TypeString:
		if json.Unmarshal(raw, &s) != nil || raw[0] != '"' {
			return "must be a string"
		}
	case catalog.TypeBoolean:
		if string(raw) != "true" && string(raw) != "false" {
			return "must be a boolean"
		}
	case catalog.TypeArray:
		if raw[0] != '[' {
			return "must be an array"
		}
	case catalog.TypeInteger, catalog.TypeFloat:
		if json.Unmarshal(raw, &n) != nil || raw[0] == '"' {
			return "must be a number"
		}
		if p.Type == catalog.TypeInteger && n != math.Trunc(n) {
			return "must be an integer"
		}
		if p.Minimum != nil && n < *p.Minimum {
			return fmt.Sprintf("%v is below the minimum %v", n, *p.Minimum)
		}
		if p.Maximum != nil && n > *p.Maximum {
			return fmt.Sprintf("%v is above the maximum %v", n, *p.Maximum)
		}
		s = strconv.FormatFloat(n, 'f', -1, 64)
	}
	if len(p.Enum) > 0 && p.Type != catalog.TypeArray && p.Type != catalog.TypeBoolean && !slices.Contains(p.Enum, s) {
		return fmt.Sprintf("%.100q is not one of %s", s, strings.Join(p.Enum, ", "))
	}
	if p.Pattern != "" && p.Type == catalog.TypeString && (pattern == nil || !pattern.MatchString(s)) {
		return fmt.Sprintf("%.100q does not match %s", s, p.Pattern)
	}
	return ""
}
