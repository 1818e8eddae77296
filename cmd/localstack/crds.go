package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"function/cmd/localstack/localkube"
)

// upstreamCRDs are the CRDs of what auditfn deploys onto (infra/): Knative
// Serving and Eventing, Gateway API, cert-manager, read from their module
// zips at the versions local-kubernetes.md checked. Only their CRDs are
// installed, not their controllers or webhooks, so the API server enforces
// their schemas and nothing more.
var upstreamCRDs = []struct{ module, dir string }{
	{"knative.dev/serving@v0.47.0", "config/core/300-resources"},
	{"knative.dev/eventing@v0.47.0", "config/core/resources"},
	{"sigs.k8s.io/gateway-api@v1.4.0", "config/crd/standard"},
	{"github.com/cert-manager/cert-manager@v1.19.1", "deploy/crds"},
}

// installCRDs applies the project's copies of Kubernaut's CRDs (infra/crd)
// and the upstream ones, and waits until the API server serves them all.
// Server-side apply: it is idempotent, so every `make up` applies again, and
// it has no size limit on the last-applied annotation that some of these
// CRDs exceed.
func (k *kube) installCRDs(ctx context.Context) error {
	dirs := []string{filepath.Join(k.root, "infra", "crd")}
	for _, u := range upstreamCRDs {
		dir, err := moduleDir(ctx, u.module)
		if err != nil {
			return err
		}
		dirs = append(dirs, filepath.Join(dir, u.dir))
	}
	var stream bytes.Buffer
	names := []string{}
	for _, d := range dirs {
		docs, err := crdDocs(d)
		if err != nil {
			return err
		}
		for name, doc := range docs {
			names = append(names, name)
			stream.WriteString("---\n")
			stream.Write(doc)
		}
	}
	if _, err := k.kubectl(ctx, &stream, "apply", "--server-side", "--force-conflicts",
		"--field-manager=auditfn-localstack", "-f", "-"); err != nil {
		return err
	}
	return k.waitEstablished(ctx, names)
}

// waitEstablished waits until every CRD in names is Established. It lists
// them all in one request per poll: kubectl's client-side rate limit (5
// requests a second after a burst of 10) makes a `get` or `wait` by name
// take seconds for this many.
func (k *kube) waitEstablished(ctx context.Context, names []string) error {
	var pending []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := k.kubectl(ctx, nil, "get", "crd", "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\n"}{end}`)
		if err != nil {
			return err
		}
		established := map[string]bool{}
		for _, line := range strings.Fields(string(out)) {
			name, status, _ := strings.Cut(line, "=")
			established[name] = status == "True"
		}
		pending = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return established[n] })
		if len(pending) == 0 {
			return nil
		}
	}
	return fmt.Errorf("CRDs not established in 60s: %s", strings.Join(pending, ", "))
}

// moduleDir is where the module cache holds mod (downloading it first).
func moduleDir(ctx context.Context, mod string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module: the repository's go.mod stays as it is
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || err != nil {
		return "", fmt.Errorf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir, nil
}

// crdDocs are the CustomResourceDefinitions among the YAML documents of
// dir's *.yaml files, by name. Other documents (such as the schema fragment
// in infra/crd) are left out.
func crdDocs(dir string) (map[string][]byte, error) {
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

// kubectl runs kubectl as the admin and returns its standard output.
func (k *kube) kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig=" + k.kubeconfig(), "--context=" + localkube.Admin.Context}, args...)...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl %s: %w\n%s", args[0], err, stderr.Bytes())
	}
	return out, nil
}
