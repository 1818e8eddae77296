package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// The rules of Kubernaut's CRDs (compat §1–2), plus the few the catalog
// needs to match and serve a workflow: a known action type, severity and
// priority values it can compare, a parameter list the validate function
// can apply.

var (
	severities = []string{"critical", "high", "warning", "info"}
	priorities = []string{"P0", "P1", "P2", "P3"}
	statuses   = []Status{StatusActive, StatusInvalid, StatusPending, StatusDisabled, StatusDeprecated, StatusArchived, StatusSuperseded}
	engines    = []string{"tekton", "job", "ansible"}
	paramTypes = []string{TypeString, TypeInteger, TypeBoolean, TypeArray, TypeFloat}

	pascalCaseRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	// versionRE is the CRD's semver-core pattern: no "v" prefix.
	versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	emailRE   = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
)

const (
	maxNameLen    = 255
	maxVersionLen = 50
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
	case len(a.Name) > maxNameLen || !pascalCaseRE.MatchString(a.Name):
		return "spec.name", fmt.Errorf("%.80q must match %s, at most %d characters", a.Name, pascalCaseRE, maxNameLen)
	}
	if field, err := checkDescription(&a.Description); err != nil {
		return "spec.description." + field, err
	}
	return "", nil
}

func checkDescription(d *Description) (string, error) {
	switch {
	case d.What == "":
		return "what", errRequired
	case d.WhenToUse == "":
		return "whenToUse", errRequired
	}
	return "", nil
}

// checkWorkflow returns the path of w's first bad field and its error, and
// keeps the parsed version for New.
func checkWorkflow(w *Workflow, actionTypes map[string]*ActionType) (string, error) {
	switch {
	case w.WorkflowName == "":
		return "metadata.name", errRequired
	case len(w.WorkflowName) > maxNameLen:
		return "metadata.name", fmt.Errorf("longer than %d characters", maxNameLen)
	}
	v, err := parseVersion(w.Version)
	if err != nil {
		return "spec.version", err
	}
	w.semver = v
	if field, err := checkDescription(&w.Description); err != nil {
		return "spec.description." + field, err
	}
	switch {
	case w.ActionType == "":
		return "spec.actionType", errRequired
	case actionTypes[w.ActionType] == nil:
		return "spec.actionType", fmt.Errorf("unknown action type %q", w.ActionType)
	}
	if field, err := checkLabels(&w.Labels); err != nil {
		return "spec.labels." + field, err
	}
	for _, key := range slices.Sorted(maps.Keys(w.CustomLabels)) {
		if key == "" {
			return "spec.customLabels", errors.New("empty key")
		}
	}
	if e := w.Execution.Engine; e != "" && !slices.Contains(engines, e) {
		return "spec.execution.engine", fmt.Errorf("%q is not one of %s", e, strings.Join(engines, ", "))
	}
	if field, err := checkDependencies(w.Dependencies); err != nil {
		return "spec.dependencies." + field, err
	}
	for i, m := range w.Maintainers {
		switch {
		case m.Name == "":
			return fmt.Sprintf("spec.maintainers[%d].name", i), errRequired
		case !emailRE.MatchString(m.Email):
			return fmt.Sprintf("spec.maintainers[%d].email", i), fmt.Errorf("%.80q is not an email address", m.Email)
		}
	}
	if len(w.Parameters) == 0 {
		return "spec.parameters", errors.New("required: at least one parameter")
	}
	if field, err := checkParameters(w.Parameters); err != nil {
		return "spec.parameters" + field, err
	}
	if field, err := checkParameters(w.RollbackParameters); err != nil {
		return "spec.rollbackParameters" + field, err
	}
	if !slices.Contains(statuses, w.Status) {
		return "status.catalogStatus", fmt.Errorf("%q is not one of %v", w.Status, statuses)
	}
	return "", nil
}

// checkLabels requires severity, environment, component and priority (the
// mandatory labels of DD-WORKFLOW-001); cluster is optional.
func checkLabels(l *Labels) (string, error) {
	for _, f := range []struct {
		name     string
		values   []string
		required bool
	}{
		{"severity", l.Severity, true},
		{"environment", l.Environment, true},
		{"component", l.Component, true},
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
	switch {
	case l.Priority == "":
		return "priority", errRequired
	case l.Priority != wildcard && !ValidPriority(l.Priority):
		return "priority", fmt.Errorf("%q is not one of %s or *", l.Priority, strings.Join(priorities, ", "))
	}
	return "", nil
}

func checkDependencies(d *Dependencies) (string, error) {
	if d == nil {
		return "", nil
	}
	for _, list := range []struct {
		field string
		refs  []NamedRef
	}{{"secrets", d.Secrets}, {"configMaps", d.ConfigMaps}} {
		for i, r := range list.refs {
			if r.Name == "" {
				return fmt.Sprintf("%s[%d].name", list.field, i), errRequired
			}
		}
	}
	return "", nil
}

// checkParameters returns the suffix of the first bad field's path (e.g.
// "[1].minimum") and its error. Names are unique, bounds are ordered, and
// dependsOn names other parameters of the same list. Patterns are checked
// where documents come in (checkPatterns), not at every snapshot load.
func checkParameters(params []Parameter) (string, error) {
	names := map[string]bool{}
	for _, p := range params {
		names[p.Name] = true
	}
	seen := map[string]bool{}
	for i, p := range params {
		at := func(field string) string { return fmt.Sprintf("[%d].%s", i, field) }
		switch {
		case p.Name == "":
			return at("name"), errRequired
		case seen[p.Name]:
			return at("name"), fmt.Errorf("parameter %q declared twice", p.Name)
		case !slices.Contains(paramTypes, p.Type):
			return at("type"), fmt.Errorf("%q is not one of %s", p.Type, strings.Join(paramTypes, ", "))
		case p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum:
			return at("minimum"), fmt.Errorf("%v is above maximum %v", *p.Minimum, *p.Maximum)
		}
		seen[p.Name] = true
		for j, dep := range p.DependsOn {
			switch {
			case dep == p.Name:
				return fmt.Sprintf("[%d].dependsOn[%d]", i, j), errors.New("a parameter cannot depend on itself")
			case !names[dep]:
				return fmt.Sprintf("[%d].dependsOn[%d]", i, j), fmt.Errorf("%q is not a parameter of this list", dep)
			}
		}
	}
	return "", nil
}

// checkPatterns returns the path of the first parameter pattern that does
// not compile as a Go (RE2) expression, and its error.
func checkPatterns(s *WorkflowSpec) (string, error) {
	for _, list := range []struct {
		field  string
		params []Parameter
	}{{"spec.parameters", s.Parameters}, {"spec.rollbackParameters", s.RollbackParameters}} {
		for i, p := range list.params {
			if _, err := regexp.Compile(p.Pattern); err != nil {
				return fmt.Sprintf("%s[%d].pattern", list.field, i), err
			}
		}
	}
	return "", nil
}

// parseVersion accepts the CRD's semantic version pattern.
func parseVersion(v string) (*semver.Version, error) {
	switch {
	case v == "":
		return nil, errRequired
	case len(v) > maxVersionLen:
		return nil, fmt.Errorf("longer than %d characters", maxVersionLen)
	case !versionRE.MatchString(v):
		return nil, fmt.Errorf("%.60q is not a semantic version MAJOR.MINOR.PATCH", v)
	}
	return semver.StrictNewVersion(v)
}

// readDetected reads a workflow's free-form detectedLabels for matching.
// Boolean detections may be written true or "true" (and false or "false");
// string detections are strings. Other keys are kept in the content but
// carry no meaning here. It returns the path of the first bad field.
func readDetected(raw json.RawMessage) (DetectedLabels, string, error) {
	var d DetectedLabels
	if len(raw) == 0 {
		return d, "", nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return d, "", err
	}
	bools := map[string]**bool{
		"gitOpsManaged": &d.GitOpsManaged, "pdbProtected": &d.PDBProtected, "networkIsolated": &d.NetworkIsolated,
		"helmManaged": &d.HelmManaged, "stateful": &d.Stateful, "hpaEnabled": &d.HPAEnabled,
		"virtualMachine": &d.VirtualMachine, "liveMigratable": &d.LiveMigratable, "cdiManaged": &d.CDIManaged,
		"resourceQuotaConstrained": &d.ResourceQuotaConstrained,
	}
	strs := map[string]*string{"gitOpsTool": &d.GitOpsTool, "serviceMesh": &d.ServiceMesh, "storageBackend": &d.StorageBackend}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		v := m[key]
		if dst, ok := bools[key]; ok {
			switch v {
			case true, "true":
				*dst = new(true)
			case false, "false":
				*dst = new(false)
			default:
				return d, key, fmt.Errorf("got %v, want true, false, \"true\" or \"false\"", v)
			}
		} else if dst, ok := strs[key]; ok {
			s, isString := v.(string)
			if !isString {
				return d, key, fmt.Errorf("got %v, want a string", v)
			}
			*dst = s
		}
	}
	return d, "", nil
}
