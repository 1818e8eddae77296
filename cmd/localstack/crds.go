package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"function/cmd/localstack/localkube"
)

// installCRDs applies the project's copies of Kubernaut's CRDs (infra/crd)
// and the upstream ones, and waits until the API server serves them all.
// Server-side apply: it is idempotent, so every `make up` applies again, and
// it has no size limit on the last-applied annotation that some of these
// CRDs exceed.
func (k *kube) installCRDs(ctx context.Context) error {
	docs, err := localkube.CRDDocs(filepath.Join(k.root, "infra", "crd"))
	if err != nil {
		return err
	}
	upstream, err := localkube.UpstreamCRDDocs(ctx)
	if err != nil {
		return err
	}
	maps.Copy(docs, upstream)
	var stream bytes.Buffer
	names := []string{}
	for name, doc := range docs {
		names = append(names, name)
		stream.WriteString("---\n")
		stream.Write(doc)
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
		// JSON, not a jsonpath filter: a CRD the API server has not given a
		// status yet makes kubectl's filter fail outright.
		out, err := k.kubectl(ctx, nil, "get", "crd", "-o", "json")
		if err != nil {
			return err
		}
		var list struct {
			Items []struct {
				Metadata struct{ Name string }
				Status   struct {
					Conditions []struct{ Type, Status string }
				}
			}
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return fmt.Errorf("kubectl get crd: %w", err)
		}
		established := map[string]bool{}
		for _, crd := range list.Items {
			for _, c := range crd.Status.Conditions {
				if c.Type == "Established" && c.Status == "True" {
					established[crd.Metadata.Name] = true
				}
			}
		}
		pending = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return established[n] })
		if len(pending) == 0 {
			return nil
		}
	}
	return fmt.Errorf("CRDs not established in 60s: %s", strings.Join(pending, ", "))
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
