package localkube

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// UpstreamCRDs are the CRDs of what auditfn deploys onto (infra/): Knative
// Serving and Eventing, Gateway API, cert-manager, read from their module
// zips at the versions local-kubernetes.md checked. Only their CRDs are
// installed, not their controllers or webhooks, so the API server enforces
// their schemas and nothing more. cmd/localstack installs them all; tests
// pick the ones they need.
var UpstreamCRDs = []struct{ Module, Dir string }{
	{"knative.dev/serving@v0.47.0", "config/core/300-resources"},
	{"knative.dev/eventing@v0.47.0", "config/core/resources"},
	// The channel behind infra/eventing's MTChannelBasedBroker.
	{"knative.dev/eventing@v0.47.0", "config/channels/in-memory-channel/resources"},
	{"sigs.k8s.io/gateway-api@v1.4.0", "config/crd/standard"},
	{"github.com/cert-manager/cert-manager@v1.19.1", "deploy/crds"},
}

// UpstreamCRDDocs are the CRDs of UpstreamCRDs, by name.
func UpstreamCRDDocs(ctx context.Context) (map[string][]byte, error) {
	all := map[string][]byte{}
	for _, u := range UpstreamCRDs {
		dir, err := ModuleDir(ctx, u.Module)
		if err != nil {
			return nil, err
		}
		docs, err := CRDDocs(filepath.Join(dir, u.Dir))
		if err != nil {
			return nil, err
		}
		maps.Copy(all, docs)
	}
	return all, nil
}

// ModuleDir is where the module cache holds mod (downloading it first).
func ModuleDir(ctx context.Context, mod string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module: the repository's go.mod stays as it is
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || err != nil {
		return "", fmt.Errorf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir, nil
}

// CRDDocs are the CustomResourceDefinitions among the YAML documents of
// dir's *.yaml files, by name. Other documents (such as the schema fragment
// in infra/crd) are left out.
func CRDDocs(dir string) (map[string][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no CRD files in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if head.Kind == "CustomResourceDefinition" {
				out[head.Metadata.Name] = doc
			}
		}
	}
	return out, nil
}
