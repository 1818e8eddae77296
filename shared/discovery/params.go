// Package discovery is what the four discovery functions (actions,
// workflows, workflow, validate) share: parsing and validating HAPI's query
// parameters (SPEC §3), the function lifecycle around the catalog snapshot
// and the audit emitter, and the common answers.
package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"function/shared/auditevent"
	"function/shared/catalog"
	"function/shared/pgtext"
	"function/shared/problem"
)

// Limits on parameter values (SPEC §3).
const (
	maxValueLen       = 253 // a DNS name; longer filter values are refused
	maxCustomKeys     = 10
	maxCustomValues   = 5
	maxCustomKeyLen   = 63
	maxCustomValueLen = 100
	maxJSONParamLen   = 8 << 10
	defaultLimit      = 10
	maxLimit          = 100
)

// Step says which rules apply: steps 1 and 2 require the four filters and
// paginate; step 3 and validate take them optionally, as the security gate.
type Step int

// The steps.
const (
	ListStep Step = iota // steps 1 and 2
	GetStep              // step 3 and validate
)

// Request is a validated discovery request.
type Request struct {
	Filter        catalog.Filter
	RemediationID string
	Offset, Limit int
	// Gated is true when any gate filter was given (step 3, validate).
	Gated bool
}

var (
	severities = []string{"critical", "high", "warning", "info"}
	priorities = []string{"P0", "P1", "P2", "P3"}
	// gvkRE: [group/]version/Kind, e.g. apps/v1/Deployment or v1/Pod.
	gvkRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?/[A-Z][A-Za-z0-9]*$`)
)

// Parse validates the query parameters of a discovery request. Every bad
// field is named; a request with any is refused whole.
func Parse(q url.Values, step Step) (Request, []problem.FieldError) {
	var (
		r    = Request{Limit: defaultLimit}
		errs []problem.FieldError
	)
	bad := func(field, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	// get is a parameter's value; every text that is answered or audited is
	// read through it. One PostgreSQL could not store (a NUL, invalid UTF-8)
	// would lose the request's audit event, so it is refused, naming the
	// parameter, and read as "".
	get := func(name string) string {
		v := q.Get(name)
		if !pgtext.Valid(v) {
			bad(name, "%s", pgtext.Message)
			return ""
		}
		return v
	}
	// jsonText is a JSON parameter's value, refused as get refuses when a
	// string in it could not be stored, naming that string.
	jsonText := func(name string) string {
		raw := get(name)
		if field, found := pgtext.BadJSON(name, []byte(raw)); found {
			bad(field, "%s", pgtext.Message)
			return ""
		}
		return raw
	}
	required := step == ListStep
	text := func(name string) string {
		v := get(name)
		switch {
		case q.Get(name) == "" && required:
			bad(name, "is required")
		case len(v) > maxValueLen:
			bad(name, "is longer than %d characters", maxValueLen)
		}
		return v
	}

	r.Filter.Severity = text("severity")
	if s := r.Filter.Severity; s != "" && !oneOf(severities, &r.Filter.Severity) {
		bad("severity", "must be one of %s", strings.Join(severities, ", "))
	}
	r.Filter.Component = text("component")
	if c := r.Filter.Component; c != "" && len(c) <= maxValueLen && !gvkRE.MatchString(c) {
		bad("component", "must be a group/version/Kind such as apps/v1/Deployment or v1/Pod")
	}
	r.Filter.Environment = text("environment")
	r.Filter.Priority = text("priority")
	if p := r.Filter.Priority; p != "" && !oneOf(priorities, &r.Filter.Priority) {
		bad("priority", "must be one of %s", strings.Join(priorities, ", "))
	}
	required = false
	r.Filter.Cluster = text("cluster")

	if raw := jsonText("custom_labels"); raw != "" {
		labels, msg := customLabels(raw)
		if msg != "" {
			bad("custom_labels", "%s", msg)
		}
		r.Filter.CustomLabels = labels
	}
	if raw := jsonText("detected_labels"); raw != "" {
		if msg := decodeStrict(raw, &r.Filter.DetectedLabels); msg != "" {
			bad("detected_labels", "%s", msg)
		}
	}

	snake, camel := get("remediation_id"), get("remediationId")
	switch {
	case snake != "" && camel != "" && snake != camel:
		bad("remediation_id", "remediation_id and remediationId differ; give one")
	case len(snake) > maxValueLen || len(camel) > maxValueLen:
		bad("remediation_id", "is longer than %d characters", maxValueLen)
	}
	r.RemediationID = firstNonEmpty(snake, camel)

	if step == ListStep {
		// Lenient by contract: a bad offset is 0, a limit is clamped.
		if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
			r.Offset = n
		}
		if n, err := strconv.Atoi(q.Get("limit")); err == nil {
			r.Limit = min(max(n, 1), maxLimit)
		}
	}
	for _, name := range []string{"severity", "component", "environment", "priority", "cluster", "detected_labels"} {
		if q.Get(name) != "" {
			r.Gated = true
		}
	}
	return r, errs
}

// oneOf reports whether *v is in allowed, ignoring case, and normalises *v
// to the allowed spelling.
func oneOf(allowed []string, v *string) bool {
	for _, a := range allowed {
		if strings.EqualFold(a, *v) {
			*v = a
			return true
		}
	}
	return false
}

func customLabels(raw string) (map[string][]string, string) {
	var labels map[string][]string
	if msg := decodeStrict(raw, &labels); msg != "" {
		return nil, msg + ` (expected {"key":["value",...]})`
	}
	if len(labels) > maxCustomKeys {
		return nil, fmt.Sprintf("has %d keys, at most %d allowed", len(labels), maxCustomKeys)
	}
	for k, vs := range labels {
		switch {
		case k == "" || len(k) > maxCustomKeyLen:
			return nil, fmt.Sprintf("key %.70q must be 1..%d characters", k, maxCustomKeyLen)
		case len(vs) > maxCustomValues:
			return nil, fmt.Sprintf("key %q has %d values, at most %d allowed", k, len(vs), maxCustomValues)
		}
		for _, v := range vs {
			if len(v) > maxCustomValueLen {
				return nil, fmt.Sprintf("a value of key %q is longer than %d characters", k, maxCustomValueLen)
			}
		}
	}
	return labels, ""
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it, returning a message for the caller on failure.
func decodeStrict(raw string, v any) string {
	if len(raw) > maxJSONParamLen {
		return fmt.Sprintf("is longer than %d bytes", maxJSONParamLen)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	if dec.More() {
		return "malformed JSON: trailing data"
	}
	return ""
}

// CheckActionType checks the {action_type} path segment of step 2.
func CheckActionType(s string) *problem.FieldError {
	switch {
	case s == "" || len(s) > maxValueLen:
		return &problem.FieldError{Field: "action_type", Message: fmt.Sprintf("must be 1..%d characters", maxValueLen)}
	case !pgtext.Valid(s):
		return &problem.FieldError{Field: "action_type", Message: pgtext.Message}
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// SignalContext is the filter as recorded in audit events.
func (r Request) SignalContext() auditevent.SignalContext {
	detected := map[string]any{}
	if b, err := json.Marshal(r.Filter.DetectedLabels); err == nil && !bytes.Equal(b, []byte("{}")) {
		_ = json.Unmarshal(b, &detected)
	}
	custom := r.Filter.CustomLabels
	if custom == nil {
		custom = map[string][]string{}
	}
	return auditevent.SignalContext{
		Severity: r.Filter.Severity, Component: r.Filter.Component, Environment: r.Filter.Environment,
		Priority: r.Filter.Priority, Cluster: r.Filter.Cluster, CustomLabels: custom, DetectedLabels: detected,
	}
}
