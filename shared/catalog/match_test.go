package catalog_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/catalog"
)

// labelled is a workflow with the given mandatory labels and nothing else.
func labelled(l catalog.Labels) *catalog.Workflow {
	return &catalog.Workflow{WorkflowSpec: catalog.WorkflowSpec{Labels: l}}
}

var typical = catalog.Labels{
	Severity:    []string{"critical", "high"},
	Component:   []string{"apps/v1/Deployment"},
	Environment: []string{"production", "staging"},
	Priority:    "P1",
}

func TestMatchesHardFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels catalog.Labels
		filter catalog.Filter
		want   bool
	}{
		{"empty filter matches", typical, catalog.Filter{}, true},
		{"empty filter matches a workflow without labels", catalog.Labels{}, catalog.Filter{}, true},
		{"value in the list", typical, catalog.Filter{Severity: "high", Component: "apps/v1/Deployment", Environment: "staging", Priority: "P1"}, true},
		{"severity not in the list", typical, catalog.Filter{Severity: "warning"}, false},
		{"component not in the list", typical, catalog.Filter{Component: "v1/Pod"}, false},
		{"environment not in the list", typical, catalog.Filter{Environment: "development"}, false},
		{"workflow * matches any severity", catalog.Labels{Severity: []string{"*"}}, catalog.Filter{Severity: "info"}, true},
		{"workflow * among values", catalog.Labels{Environment: []string{"staging", "*"}}, catalog.Filter{Environment: "qa"}, true},
		{"filter * matches any value the workflow has", typical, catalog.Filter{Component: "*"}, true},
		{"filter * does not match a missing list", catalog.Labels{}, catalog.Filter{Cluster: "*"}, false},
		{"component case-insensitive", typical, catalog.Filter{Component: "APPS/v1/deployment"}, true},
		{"environment case-insensitive", typical, catalog.Filter{Environment: "Production"}, true},
		{"severity case-insensitive", typical, catalog.Filter{Severity: "CRITICAL"}, true},
		{"missing cluster list fails a cluster filter", typical, catalog.Filter{Cluster: "prod-eu-1"}, false},
		{"missing severity list fails a severity filter", catalog.Labels{}, catalog.Filter{Severity: "critical"}, false},
		{"missing cluster list passes without a cluster filter", typical, catalog.Filter{Severity: "critical"}, true},
		{"cluster in the list", catalog.Labels{Cluster: []string{"prod-eu-1", "prod-us-1"}}, catalog.Filter{Cluster: "prod-us-1"}, true},
		{"cluster not in the list", catalog.Labels{Cluster: []string{"prod-eu-1"}}, catalog.Filter{Cluster: "prod-us-1"}, false},
		{"priority equal", typical, catalog.Filter{Priority: "P1"}, true},
		{"priority case-insensitive", typical, catalog.Filter{Priority: "p1"}, true},
		{"priority differs", typical, catalog.Filter{Priority: "P0"}, false},
		{"workflow priority * matches any", catalog.Labels{Priority: "*"}, catalog.Filter{Priority: "P3"}, true},
		{"missing priority fails a priority filter", catalog.Labels{}, catalog.Filter{Priority: "P0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, catalog.Matches(labelled(tc.labels), tc.filter))
		})
	}
}

func TestMatchesDetectedLabels(t *testing.T) {
	yes, no := new(true), new(false)
	for _, tc := range []struct {
		name       string
		have, want catalog.DetectedLabels
		match      bool
	}{
		{"boolean filter true, workflow false", catalog.DetectedLabels{GitOpsManaged: no}, catalog.DetectedLabels{GitOpsManaged: yes}, true},
		{"boolean filter true, workflow unset", catalog.DetectedLabels{}, catalog.DetectedLabels{PDBProtected: yes, VirtualMachine: yes}, true},
		{"boolean filter false, workflow true", catalog.DetectedLabels{Stateful: yes}, catalog.DetectedLabels{Stateful: no}, true},
		{"string differs", catalog.DetectedLabels{GitOpsTool: "flux"}, catalog.DetectedLabels{GitOpsTool: "argocd"}, false},
		{"service mesh differs", catalog.DetectedLabels{ServiceMesh: "linkerd"}, catalog.DetectedLabels{ServiceMesh: "istio"}, false},
		{"storage backend differs", catalog.DetectedLabels{StorageBackend: "local"}, catalog.DetectedLabels{StorageBackend: "lvms"}, false},
		{"value outside the known list differs too", catalog.DetectedLabels{StorageBackend: "nfs"}, catalog.DetectedLabels{StorageBackend: "lvms"}, false},
		{"string equal", catalog.DetectedLabels{GitOpsTool: "argocd"}, catalog.DetectedLabels{GitOpsTool: "argocd"}, true},
		{"string case-insensitive", catalog.DetectedLabels{GitOpsTool: "ArgoCD"}, catalog.DetectedLabels{GitOpsTool: "argocd"}, true},
		{"workflow unset", catalog.DetectedLabels{}, catalog.DetectedLabels{GitOpsTool: "argocd"}, true},
		{"filter unset", catalog.DetectedLabels{GitOpsTool: "flux"}, catalog.DetectedLabels{}, true},
		{"workflow *", catalog.DetectedLabels{ServiceMesh: "*"}, catalog.DetectedLabels{ServiceMesh: "istio"}, true},
		{"filter *", catalog.DetectedLabels{ServiceMesh: "linkerd"}, catalog.DetectedLabels{ServiceMesh: "*"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &catalog.Workflow{Detected: tc.have}
			assert.Equal(t, tc.match, catalog.Matches(w, catalog.Filter{DetectedLabels: tc.want}))
		})
	}
}

func TestScore(t *testing.T) {
	yes, no := new(true), new(false)
	type dl = catalog.DetectedLabels
	type cl = map[string][]string
	for _, tc := range []struct {
		name       string
		have, want dl
		haveCustom map[string]string
		wantCustom cl
		score      float64
	}{
		{name: "nothing to boost", score: 0.5},

		{name: "gitOpsManaged both true", have: dl{GitOpsManaged: yes}, want: dl{GitOpsManaged: yes}, score: 0.51},
		{name: "pdbProtected both true", have: dl{PDBProtected: yes}, want: dl{PDBProtected: yes}, score: 0.505},
		{name: "networkIsolated both true", have: dl{NetworkIsolated: yes}, want: dl{NetworkIsolated: yes}, score: 0.503},
		{name: "helmManaged both true", have: dl{HelmManaged: yes}, want: dl{HelmManaged: yes}, score: 0.502},
		{name: "stateful both true", have: dl{Stateful: yes}, want: dl{Stateful: yes}, score: 0.502},
		{name: "hpaEnabled both true", have: dl{HPAEnabled: yes}, want: dl{HPAEnabled: yes}, score: 0.502},
		{name: "virtualMachine both true", have: dl{VirtualMachine: yes}, want: dl{VirtualMachine: yes}, score: 0.508},
		{name: "liveMigratable both true", have: dl{LiveMigratable: yes}, want: dl{LiveMigratable: yes}, score: 0.504},
		{name: "cdiManaged both true", have: dl{CDIManaged: yes}, want: dl{CDIManaged: yes}, score: 0.503},
		{name: "booleans summed", have: dl{VirtualMachine: yes, LiveMigratable: yes, CDIManaged: yes}, want: dl{VirtualMachine: yes, LiveMigratable: yes, CDIManaged: yes}, score: 0.515},
		{name: "boolean on the workflow only", have: dl{PDBProtected: yes}, score: 0.5},
		{name: "boolean true in filter, false in workflow", have: dl{HPAEnabled: no}, want: dl{HPAEnabled: yes}, score: 0.5},
		{name: "resourceQuotaConstrained carries no weight", have: dl{ResourceQuotaConstrained: yes}, want: dl{ResourceQuotaConstrained: yes}, score: 0.5},

		{name: "gitOpsTool exact", have: dl{GitOpsTool: "argocd"}, want: dl{GitOpsTool: "argocd"}, score: 0.51},
		{name: "gitOpsTool exact, any case", have: dl{GitOpsTool: "Flux"}, want: dl{GitOpsTool: "flux"}, score: 0.51},
		{name: "gitOpsTool * in workflow: half", have: dl{GitOpsTool: "*"}, want: dl{GitOpsTool: "argocd"}, score: 0.505},
		{name: "gitOpsTool * in filter: half", have: dl{GitOpsTool: "flux"}, want: dl{GitOpsTool: "*"}, score: 0.505},
		{name: "gitOpsTool * on both sides: half", have: dl{GitOpsTool: "*"}, want: dl{GitOpsTool: "*"}, score: 0.505},
		{name: "gitOpsTool outside the list, exact: 0", have: dl{GitOpsTool: "jenkins-x"}, want: dl{GitOpsTool: "jenkins-x"}, score: 0.5},
		{name: "gitOpsTool outside the list against *: 0", have: dl{GitOpsTool: "*"}, want: dl{GitOpsTool: "jenkins-x"}, score: 0.5},
		{name: "serviceMesh exact", have: dl{ServiceMesh: "istio"}, want: dl{ServiceMesh: "istio"}, score: 0.505},
		{name: "serviceMesh * half", have: dl{ServiceMesh: "*"}, want: dl{ServiceMesh: "linkerd"}, score: 0.5025},
		{name: "storageBackend exact", have: dl{StorageBackend: "odf-ceph"}, want: dl{StorageBackend: "odf-ceph"}, score: 0.505},
		{name: "storageBackend * half", have: dl{StorageBackend: "lvms"}, want: dl{StorageBackend: "*"}, score: 0.5025},
		{name: "storageBackend outside the list: 0", have: dl{StorageBackend: "nfs"}, want: dl{StorageBackend: "nfs"}, score: 0.5},
		{name: "string set on the workflow only", have: dl{StorageBackend: "local"}, score: 0.5},

		{name: "penalty: gitOpsManaged in filter, workflow unset", want: dl{GitOpsManaged: yes}, score: 0.49},
		{name: "penalty: gitOpsManaged in filter, workflow false", have: dl{GitOpsManaged: no}, want: dl{GitOpsManaged: yes}, score: 0.49},
		{name: "no penalty: gitOpsManaged false in filter", want: dl{GitOpsManaged: no}, score: 0.5},
		{name: "penalty: gitOpsTool named, workflow has none", want: dl{GitOpsTool: "argocd"}, score: 0.49},
		{name: "penalty: gitOpsTool outside the list, workflow has none", want: dl{GitOpsTool: "jenkins-x"}, score: 0.49},
		{name: "no penalty: gitOpsTool * in filter", want: dl{GitOpsTool: "*"}, score: 0.5},
		{name: "both penalties", want: dl{GitOpsManaged: yes, GitOpsTool: "argocd"}, score: 0.48},
		{name: "GitOps fully matched", have: dl{GitOpsManaged: yes, GitOpsTool: "argocd"}, want: dl{GitOpsManaged: yes, GitOpsTool: "argocd"}, score: 0.52},

		{name: "custom: one exact pair", haveCustom: kv{"team": "payments"}, wantCustom: cl{"team": {"payments"}}, score: 0.515},
		{name: "custom: the workflow's value among the filter's", haveCustom: kv{"tier": "backend"}, wantCustom: cl{"tier": {"frontend", "backend"}}, score: 0.515},
		{name: "custom: pairs across keys summed", haveCustom: kv{"team": "payments", "tier": "backend"}, wantCustom: cl{"team": {"payments"}, "tier": {"backend"}}, score: 0.53},
		{name: "custom: * for the key", haveCustom: kv{"team": "*"}, wantCustom: cl{"team": {"payments"}}, score: 0.5075},
		{name: "custom: * once per key", haveCustom: kv{"team": "*"}, wantCustom: cl{"team": {"payments", "data"}}, score: 0.5075},
		{name: "custom: exact and * on different keys", haveCustom: kv{"team": "payments", "tier": "*"}, wantCustom: cl{"team": {"payments"}, "tier": {"backend"}}, score: 0.5225},
		{name: "custom: duplicate filter value counted once", haveCustom: kv{"team": "payments"}, wantCustom: cl{"team": {"payments", "payments"}}, score: 0.515},
		{name: "custom: * in the filter is no value", haveCustom: kv{"team": "payments"}, wantCustom: cl{"team": {"*"}}, score: 0.5},
		{name: "custom: case-sensitive", haveCustom: kv{"team": "payments"}, wantCustom: cl{"team": {"Payments"}}, score: 0.5},
		{name: "custom: other value", haveCustom: kv{"team": "data"}, wantCustom: cl{"team": {"payments"}}, score: 0.5},
		{name: "custom: key absent from the workflow", haveCustom: kv{"tier": "backend"}, wantCustom: cl{"team": {"payments"}}, score: 0.5},
		{name: "custom: never filters, workflow labels alone", haveCustom: kv{"team": "payments"}, score: 0.5},

		{name: "everything summed", have: dl{GitOpsManaged: yes, GitOpsTool: "*", ServiceMesh: "istio"}, want: dl{GitOpsManaged: yes, GitOpsTool: "flux", ServiceMesh: "istio", PDBProtected: yes},
			haveCustom: kv{"team": "payments"}, wantCustom: cl{"team": {"payments"}}, score: 0.535}, // (5 + .10 + .05 + .05 + .15) / 10
		{name: "capped at 1.0", haveCustom: manyKeys(35), wantCustom: filterOf(manyKeys(35)), score: 1.0}, // 5 + 35 × .15 = 10.25
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &catalog.Workflow{Detected: tc.have, WorkflowSpec: catalog.WorkflowSpec{CustomLabels: tc.haveCustom}}
			f := catalog.Filter{DetectedLabels: tc.want, CustomLabels: tc.wantCustom}
			assert.Equal(t, tc.score, catalog.Score(w, f))
		})
	}
}

type kv = map[string]string

func manyKeys(n int) kv {
	m := kv{}
	for k := range n {
		m[fmt.Sprint("key", k)] = fmt.Sprint("value", k)
	}
	return m
}

// filterOf asks for exactly the workflow's custom labels.
func filterOf(labels kv) map[string][]string {
	m := map[string][]string{}
	for k, v := range labels {
		m[k] = []string{v}
	}
	return m
}

func TestKnownDetections(t *testing.T) {
	d := catalog.DetectedLabels{HPAEnabled: new(true), GitOpsTool: "ArgoCD", ServiceMesh: "*", StorageBackend: "nfs"}
	assert.Equal(t, catalog.DetectedLabels{HPAEnabled: new(true), GitOpsTool: "argocd", ServiceMesh: "*"}, d.Known())
}
