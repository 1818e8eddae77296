package catalog

import (
	"slices"
	"strings"
)

// Matching and scoring of SPEC §3.2 (Kubernaut DD-WORKFLOW-004). Choices
// where the spec is silent are marked "Choice:" and listed in
// docs/decisions.md, "Scoring choices".

// Filter is the signal context of a discovery call. An empty string or a nil
// pointer means "not given".
type Filter struct {
	Severity       string              `json:"severity"`
	Component      string              `json:"component"`
	Environment    string              `json:"environment"`
	Priority       string              `json:"priority"`
	Cluster        string              `json:"cluster"`
	CustomLabels   map[string][]string `json:"customLabels"`
	DetectedLabels DetectedLabels      `json:"detectedLabels"`
}

const wildcard = "*"

// Matches reports whether w passes every hard filter of f. It is the filter
// of steps 1 and 2 and the security gate of step 3.
func Matches(w *Workflow, f Filter) bool {
	return listMatches(w.Labels.Severity, f.Severity) &&
		listMatches(w.Labels.Component, f.Component) &&
		listMatches(w.Labels.Environment, f.Environment) &&
		listMatches(w.Labels.Cluster, f.Cluster) &&
		valueMatches(w.Labels.Priority, f.Priority) &&
		detectedMatches(&w.Detected, &f.DetectedLabels)
}

// listMatches: an empty filter matches anything; otherwise the list must hold
// the value or "*", so an empty list matches no given value.
func listMatches(list []string, want string) bool {
	return want == "" || slices.ContainsFunc(list, func(have string) bool { return valueMatches(have, want) })
}

// valueMatches compares one workflow value with one filter value,
// case-insensitively. Choice: "*" in the filter (where its enum allows it)
// matches any value the workflow has, as "*" in the workflow matches any
// filter value.
func valueMatches(have, want string) bool {
	return want == "" || have != "" && (have == wildcard || want == wildcard || strings.EqualFold(have, want))
}

// detectedMatches: boolean detected labels never exclude; a string one
// excludes only when both sides are set, neither is "*", and they differ.
func detectedMatches(w, f *DetectedLabels) bool {
	want := f.strings()
	for i, have := range w.strings() {
		if have != "" && !valueMatches(have, want[i]) {
			return false
		}
	}
	return true
}

// Weights are in thousandths so that scores are sums of integers: equal
// matches give bit-identical scores, and ties break on workflowId as the spec
// says rather than on floating-point noise.
const (
	baseScore         = 5000  // 5.0
	fullScore         = 10000 // score 1.0: (s/1000)/10 = s/10000
	customExact       = 150   // per (key, value) pair
	customWildcard    = 75    // per key
	gitOpsPenalty     = 100   // filter gitOpsManaged, workflow not
	gitOpsToolPenalty = 100   // filter names a tool, workflow has neither it nor "*"
)

// boolWeights are the weights of DetectedLabels.bools, in its order.
var boolWeights = [...]int{
	100, // gitOpsManaged
	50,  // pdbProtected
	30,  // networkIsolated
	20,  // helmManaged
	20,  // stateful
	20,  // hpaEnabled
	80,  // virtualMachine
	40,  // liveMigratable
	30,  // cdiManaged
}

// stringLabels weigh DetectedLabels.strings, in its order.
var stringLabels = [...]struct {
	weight int
	known  []string
}{
	{100, []string{"argocd", "flux"}},           // gitOpsTool
	{50, []string{"istio", "linkerd"}},          // serviceMesh
	{50, []string{"odf-ceph", "lvms", "local"}}, // storageBackend
}

// bools are the weighted boolean labels; resourceQuotaConstrained carries no
// weight and is absent. Arrays rather than accessor funcs keep Filter on the
// stack (a pointer passed to a func value escapes).
func (d *DetectedLabels) bools() [len(boolWeights)]*bool {
	return [...]*bool{d.GitOpsManaged, d.PDBProtected, d.NetworkIsolated, d.HelmManaged,
		d.Stateful, d.HPAEnabled, d.VirtualMachine, d.LiveMigratable, d.CDIManaged}
}

func (d *DetectedLabels) strings() [len(stringLabels)]string {
	return [...]string{d.GitOpsTool, d.ServiceMesh, d.StorageBackend}
}

// Score is min((5.0 + detectedBoost + customBoost − penalty) / 10, 1.0). It
// assumes Matches(w, f).
func Score(w *Workflow, f Filter) float64 {
	s := baseScore +
		detectedBoost(&w.Detected, &f.DetectedLabels) +
		customBoost(w.CustomLabels, f.CustomLabels) -
		penalty(&w.Detected, &f.DetectedLabels)
	return float64(min(s, fullScore)) / fullScore
}

func detectedBoost(w, f *DetectedLabels) int {
	b := 0
	wantBools := f.bools()
	for i, have := range w.bools() {
		if isTrue(have) && isTrue(wantBools[i]) {
			b += boolWeights[i]
		}
	}
	want := f.strings()
	for i, have := range w.strings() {
		b += stringBoost(have, want[i], stringLabels[i].weight, stringLabels[i].known)
	}
	return b
}

// stringBoost: full weight on an exact match, half when either side is "*" (both
// "*" included), 0 when a side is unset or a concrete value is outside the
// field's known values. Choice: values compare case-insensitively, as the
// hard filters do.
func stringBoost(have, want string, weight int, known []string) int {
	if have == "" || want == "" {
		return 0
	}
	for _, v := range [...]string{have, want} {
		if v != wildcard && !containsFold(known, v) {
			return 0
		}
	}
	switch {
	case have == wildcard || want == wildcard:
		return weight / 2
	case strings.EqualFold(have, want):
		return weight
	}
	return 0
}

func penalty(w, f *DetectedLabels) int {
	p := 0
	if isTrue(f.GitOpsManaged) && !isTrue(w.GitOpsManaged) {
		p += gitOpsPenalty
	}
	// Choice: any tool named counts, known to the weights or not.
	if tool := f.GitOpsTool; tool != "" && tool != wildcard &&
		w.GitOpsTool != wildcard && !strings.EqualFold(w.GitOpsTool, tool) {
		p += gitOpsToolPenalty
	}
	return p
}

// customBoost adds, per filter key, customExact when the workflow's one
// value for the key is among the filter's values (compared exactly) or,
// choice: when the workflow's value is "*", customWildcard, so a wildcard
// never outscores an exact match. A "*" in the filter is no value.
func customBoost(have map[string]string, want map[string][]string) int {
	b := 0
	for key, values := range want {
		v, ok := have[key]
		switch {
		case !ok:
		case v == wildcard:
			b += customWildcard
		case slices.Contains(values, v):
			b += customExact
		}
	}
	return b
}

func isTrue(b *bool) bool { return b != nil && *b }

// Known is d with each string detection in the spelling of its known values,
// "*" kept, and any other value left out: what Data Storage's DetectedLabels
// enums admit (a value outside them weighs nothing in scoring either).
func (d DetectedLabels) Known() DetectedLabels {
	for i, v := range [...]*string{&d.GitOpsTool, &d.ServiceMesh, &d.StorageBackend} {
		*v = knownSpelling(*v, stringLabels[i].known)
	}
	return d
}

func knownSpelling(v string, known []string) string {
	if v == wildcard {
		return v
	}
	for _, k := range known {
		if strings.EqualFold(v, k) {
			return k
		}
	}
	return ""
}
