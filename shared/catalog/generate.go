package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
		j, err := jsonv2.Marshal(doc)
		if err != nil {
			panic(err) // our own plain structs always marshal
		}
		b, err := yaml.JSONToYAML(j)
		if err != nil {
			panic(err) // our own plain structs always marshal
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	for _, name := range actionTypeNames {
		write(actionTypeDoc{
			typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindActionType},
			Metadata: objectMeta{"name": jsontext.Value(strconv.Quote(strings.ToLower(name)))},
			Spec:     ActionType{Name: name, Description: Description{What: "Generated action type " + name + ".", WhenToUse: "In benchmarks."}},
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

	actionType := actionTypeNames[i%len(actionTypeNames)]
	name, version := fmt.Sprintf("gen-%s-%04d", strings.ToLower(actionType), i), "1.0.0"
	if i >= len(actionTypeNames) && rng.IntN(20) == 0 { // a new version of the same type's previous document
		name = fmt.Sprintf("gen-%s-%04d", strings.ToLower(actionType), i-len(actionTypeNames))
		version = fmt.Sprintf("1.%d.0", 1+i)
	}
	detected := map[string]any{}
	// Slices, not maps: the draws must come in the same order every time.
	for _, b := range []struct {
		key     string
		percent int
	}{{"gitOpsManaged", 30}, {"pdbProtected", 30}, {"hpaEnabled", 30}, {"stateful", 20}} {
		if rng.IntN(100) < b.percent {
			detected[b.key] = pick("true", "true", "false") // as Kubernaut's documents write booleans
		}
	}
	for _, s := range []struct {
		key    string
		values []string
	}{
		{"gitOpsTool", []string{"", "", "argocd", "flux", wildcard}},
		{"serviceMesh", []string{"", "", "istio", "linkerd", wildcard}},
		{"storageBackend", []string{"", "", "", "odf-ceph", "lvms", wildcard}},
	} {
		if v := pick(s.values...); v != "" {
			detected[s.key] = v
		}
	}
	spec := WorkflowSpec{
		Version:     version,
		Description: Description{What: fmt.Sprintf("Synthetic %s workflow %d for benchmarks.", actionType, i), WhenToUse: "Never in production."},
		ActionType:  actionType,
		Labels: Labels{
			Severity:    some(severities...),
			Environment: some("production", "staging", "development"),
			Component:   some("apps/v1/Deployment", "apps/v1/StatefulSet", "v1/Pod", "v1/Node"),
			Priority:    pick("P0", "P1", "P2", "P3", wildcard),
		},
		Execution: Execution{
			Engine: pick("tekton", "job"),
			Bundle: fmt.Sprintf("quay.io/example/gen-%04d@sha256:%064x", i, rng.Uint64()),
		},
		Maintainers: []Maintainer{{Name: pick("platform-team", "sre-team", "payments-team"), Email: "oncall@example.com"}},
		Parameters: []Parameter{
			{Name: "TARGET", Type: TypeString, Required: true, Description: "Target name.", Pattern: "^[a-z0-9-]+$"},
			{Name: "LIMIT", Type: TypeInteger, Description: "Upper bound.", Minimum: new(1.0), Maximum: new(float64(1 + rng.IntN(100)))},
		},
	}
	if len(detected) > 0 {
		spec.DetectedLabels, _ = json.Marshal(detected) // a map of strings always marshals
	}
	if rng.IntN(10) < 3 {
		spec.Labels.Cluster = some("prod-east", "prod-west")
	}
	if rng.IntN(2) == 0 {
		spec.CustomLabels = map[string]string{"team": pick("payments", "platform", "data", wildcard)}
	}
	doc := workflowDoc{
		typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindWorkflow},
		Metadata: objectMeta{"name": jsontext.Value(strconv.Quote(name))},
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
