package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	severities = []string{"critical", "high", "warning", "info"}
	priorities = []string{"P0", "P1", "P2", "P3"}
	statuses   = []Status{StatusActive, StatusDisabled, StatusDeprecated}
)

// ValidSeverity reports whether s is one of critical, high, warning, info
// (any case).
func ValidSeverity(s string) bool { return containsFold(severities, s) }

// ValidPriority reports whether s is one of P0..P3 (any case).
func ValidPriority(s string) bool { return containsFold(priorities, s) }

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

var errRequired = errors.New("required")

// checkActionType returns the path of the first bad field and its error.
func checkActionType(a *ActionType) (string, error) {
	switch {
	case a.Name == "":
		return "spec.name", errRequired
	case a.Description.What == "":
		return "spec.description.what", errRequired
	}
	return "", nil
}

// checkWorkflow returns the path of w's first bad field and its error, and
// keeps the parsed version for New; the parameter schema is checked by
// compileParameters.
func checkWorkflow(w *Workflow, actionTypes map[string]*ActionType) (string, error) {
	if w.WorkflowName == "" {
		return "metadata.name", errRequired
	}
	v, err := parseVersion(w.Version)
	if err != nil {
		return "spec.version", err
	}
	w.semver = v
	if w.Name == "" {
		return "spec.name", errRequired
	}
	if w.Description.What == "" {
		return "spec.description.what", errRequired
	}
	if w.ActionType == "" {
		return "spec.actionType", errRequired
	}
	if actionTypes[w.ActionType] == nil {
		return "spec.actionType", fmt.Errorf("unknown action type %q", w.ActionType)
	}
	if field, err := checkLabels(&w.Labels); err != nil {
		return "spec.labels." + field, err
	}
	for _, key := range slices.Sorted(maps.Keys(w.CustomLabels)) {
		if key == "" {
			return "spec.customLabels", errors.New("empty key")
		}
		if values := w.CustomLabels[key]; len(values) == 0 || slices.Contains(values, "") {
			return "spec.customLabels." + key, errors.New("empty value")
		}
	}
	if w.ExecutionEngine == "" {
		return "spec.executionEngine", errRequired
	}
	if !slices.Contains(statuses, w.Status) {
		return "status.catalogStatus", fmt.Errorf("%q is not one of %v", w.Status, statuses)
	}
	return "", nil
}

// checkLabels requires severity, component, environment and priority (the
// mandatory labels of DD-WORKFLOW-001); cluster is optional.
func checkLabels(l *Labels) (string, error) {
	for _, f := range []struct {
		name     string
		values   []string
		required bool
	}{
		{"severity", l.Severity, true},
		{"component", l.Component, true},
		{"environment", l.Environment, true},
		{"cluster", l.Cluster, false},
	} {
		if f.required && len(f.values) == 0 {
			return f.name, errRequired
		}
		for i, v := range f.values {
			switch {
			case v == "":
				return fmt.Sprintf("%s[%d]", f.name, i), errors.New("empty value")
			case f.name == "severity" && v != wildcard && !ValidSeverity(v):
				return fmt.Sprintf("%s[%d]", f.name, i), fmt.Errorf("%q is not one of %s or *", v, strings.Join(severities, ", "))
			}
		}
	}
	if l.Priority != wildcard && !ValidPriority(l.Priority) {
		return "priority", fmt.Errorf("%q is not one of %s or *", l.Priority, strings.Join(priorities, ", "))
	}
	return "", nil
}

// parseVersion accepts a semantic version with an optional "v" prefix.
func parseVersion(v string) (*semver.Version, error) {
	if v == "" {
		return nil, errRequired
	}
	sv, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version: %w", v, err)
	}
	return sv, nil
}

// compileParameters compiles a parameter schema. It must describe an object
// (the parameters), and may not load anything: a $ref to another document
// fails rather than reading a file or the network.
func compileParameters(raw []byte) (*jsonschema.Schema, error) {
	if len(raw) == 0 {
		return nil, errRequired
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if obj, ok := doc.(map[string]any); !ok || obj["type"] != "object" {
		return nil, errors.New(`must be a JSON Schema with "type": "object"`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	const url = "urn:kubernaut:parameters"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}
