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
}

// Table is ordered: more specific rules first.
var Table = []Rule{
	{Exact, "/api/v1/workflows/actions", "actions"},
	{Prefix, "/api/v1/workflows/actions/", "workflows"},
	{Regex, "^/api/v1/workflows/[^/]+/validate$", "validate"},
	{Prefix, "/api/v1/workflows/", "workflow"},
	{Prefix, "/api/v1/audit/", "query"},
	{Exact, "/mutate-workflowexecution", "blockclear"},
}

var compiled = map[string]*regexp.Regexp{}

func init() {
	for _, r := range Table {
		if r.Kind == Regex {
			compiled[r.Path] = regexp.MustCompile(r.Path)
		}
	}
}

// Lookup returns the function serving path, or "" when none does.
func Lookup(path string) string {
	for _, r := range Table {
		switch {
		case r.Kind == Exact && path == r.Path,
			r.Kind == Prefix && strings.HasPrefix(path, r.Path),
			r.Kind == Regex && compiled[r.Path].MatchString(path):
			return r.Function
		}
	}
	return ""
}
