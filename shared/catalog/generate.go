package catalog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"

	"sigs.k8s.io/yaml"
)

// actionTypeNames are the ten V1.0 action types.
var actionTypeNames = []string{
	"CleanupNode", "CordonNode", "DeletePod", "DrainNode", "IncreaseCPULimits",
	"IncreaseMemoryLimits", "RestartDeployment", "RestartPod", "RollbackDeployment", "ScaleReplicas",
}

// Generate returns a synthetic catalog for benchmarks: the ten V1.0 action
// types and n RemediationWorkflow documents, as one multi-document YAML file
// for LoadDir. Labels are drawn at random (wildcards, detected and custom
// labels included); about 5% of the documents are a newer version of an
// earlier workflow and 8% are not Active. The same (n, seed) gives the same
// bytes.
func Generate(n int, seed int64) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var out bytes.Buffer
	write := func(doc any) {
		b, err := yaml.Marshal(doc)
		if err != nil {
			panic(err) // our own plain structs always marshal
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	for _, name := range actionTypeNames {
		write(actionTypeDoc{
			typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindActionType},
			Metadata: objectMeta{Name: strings.ToLower(name)},
			Spec:     ActionType{Name: name, Description: Description{What: "Generated action type " + name + "."}},
		})
	}
	for i := range n {
		write(generateWorkflow(rng, i))
	}
	return out.Bytes()
}

func generateWorkflow(rng *rand.Rand, i int) workflowDoc {
	pick := func(values ...string) string { return values[rng.IntN(len(values))] }
	some := func(values ...string) []string {
		if rng.IntN(10) == 0 {
			return []string{wildcard}
		}
		var out []string
		for _, v := range values {
			if rng.IntN(2) == 0 {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			out = []string{values[0]}
		}
		return out
	}
	flag := func(percent int) *bool {
		if rng.IntN(100) < percent {
			return new(true)
		}
		return nil
	}

	actionType := actionTypeNames[i%len(actionTypeNames)]
	name, version := fmt.Sprintf("gen-%s-%04d", strings.ToLower(actionType), i), "1.0.0"
	if i >= len(actionTypeNames) && rng.IntN(20) == 0 { // a new version of the same type's previous document
		name = fmt.Sprintf("gen-%s-%04d", strings.ToLower(actionType), i-len(actionTypeNames))
		version = fmt.Sprintf("1.%d.0", 1+i)
	}
	spec := WorkflowSpec{
		Version:     version,
		Name:        fmt.Sprintf("Generated %s workflow %d", actionType, i),
		Description: Description{What: "Synthetic workflow for benchmarks.", WhenToUse: "Never in production."},
		ActionType:  actionType,
		Owner:       pick("platform-team", "sre-team", "payments-team"),
		Maintainer:  "oncall@example.com",
		Labels: Labels{
			Severity:    some(severities...),
			Component:   some("apps/v1/Deployment", "apps/v1/StatefulSet", "v1/Pod", "v1/Node"),
			Environment: some("production", "staging", "development"),
			Priority:    pick("P0", "P1", "P2", "P3", wildcard),
		},
		DetectedLabels: DetectedLabels{
			GitOpsManaged:  flag(30),
			PDBProtected:   flag(30),
			HPAEnabled:     flag(30),
			Stateful:       flag(20),
			GitOpsTool:     pick("", "", "argocd", "flux", wildcard),
			ServiceMesh:    pick("", "", "istio", "linkerd", wildcard),
			StorageBackend: pick("", "", "", "odf-ceph", "lvms", wildcard),
		},
		Parameters: fmt.Appendf(nil,
			`{"type":"object","required":["TARGET"],"properties":{"TARGET":{"type":"string","pattern":"^[a-z0-9-]+$"},"LIMIT":{"type":"integer","minimum":1,"maximum":%d}}}`,
			1+rng.IntN(100)),
		ExecutionEngine: pick("tekton", "job"),
		ExecutionBundle: fmt.Sprintf("quay.io/example/gen-%04d@sha256:%064x", i, rng.Uint64()),
	}
	if rng.IntN(10) < 3 {
		spec.Labels.Cluster = some("prod-east", "prod-west")
	}
	if rng.IntN(2) == 0 {
		spec.CustomLabels = map[string][]string{"team": {pick("payments", "platform", "data", wildcard)}}
	}
	doc := workflowDoc{
		typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindWorkflow},
		Metadata: objectMeta{Name: name},
		Spec:     spec,
	}
	switch r := rng.IntN(100); {
	case r < 5:
		doc.Status = &workflowStatus{CatalogStatus: StatusDisabled}
	case r < 8:
		doc.Status = &workflowStatus{CatalogStatus: StatusDeprecated}
	}
	return doc
}
