// Package routes is the one table of which function serves which public
// path. The local router (cmd/localrun) and the cluster's HTTP route in
// infra/ both follow it; the first matching rule wins.
package routes

import (
	"regexp"
	"strings"
)

// Match kinds, as in the Gateway API's HTTPRoute path match.
const (
	Exact  = "Exact"
	Prefix = "PathPrefix"
	Regex  = "RegularExpression"
)

// Rule sends requests whose path matches to Function.
type Rule struct {
	Kind     string
	Path     string
	Function string
	// Internal rules are served by the local router only. In a cluster the
	// API server reaches the admission webhook through its own TLS Service,
	// never the public route: an AdmissionReview carries the caller's
	// identity, so a public path would let anyone forge a clearance.
	Internal bool
}

// Table is ordered, first match wins, and its public rules are disjoint
// (but for an action type named "validate") so that every Gateway API
// implementation, whatever its precedence of regular expressions, routes
// them the same.
var Table = []Rule{
	{Kind: Exact, Path: "/api/v1/workflows/actions", Function: "actions"},
	{Kind: Prefix, Path: "/api/v1/workflows/actions/", Function: "workflows"},
	{Kind: Regex, Path: "^/api/v1/workflows/[^/]+/validate$", Function: "validate"},
	{Kind: Regex, Path: "^/api/v1/workflows/[^/]+$", Function: "workflow"},
	{Kind: Prefix, Path: "/api/v1/audit/", Function: "query"},
	{Kind: Exact, Path: "/mutate-workflowexecution", Function: "blockclear", Internal: true},
}

var compiled = map[string]*regexp.Regexp{}

func init() {
	for _, r := range Table {
		if r.Kind == Regex {
			compiled[r.Path] = regexp.MustCompile(r.Path)
		}
	}
}

// Find returns the first rule matching path. A PathPrefix matches as in
// the Gateway API: whole path elements, with or without the trailing slash.
func Find(path string) (Rule, bool) {
	for _, r := range Table {
		switch {
		case r.Kind == Exact && path == r.Path,
			r.Kind == Prefix && (strings.HasPrefix(path, r.Path) || path == strings.TrimSuffix(r.Path, "/")),
			r.Kind == Regex && compiled[r.Path].MatchString(path):
			return r, true
		}
	}
	return Rule{}, false
}

// Lookup returns the function serving path, or "" when none does.
func Lookup(path string) string {
	r, _ := Find(path)
	return r.Function
}
