package testenv

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"function/cmd/localstack/localkube"
)

// privateEtcdPort is the etcd client port inside a private namespace, where
// every port is free.
const privateEtcdPort = 2379

// NewPrivateKube starts, inside ns, an etcd and a kube-apiserver of their
// own (the binaries `make up` built, its flags and its PKI), with
// Kubernaut's WorkflowExecution CRD and a namespace for the test. The API
// server listens on the port of the shared one, so .local/kubeconfig and
// its users work unchanged inside ns. Everything is gone when the test ends.
func NewPrivateKube(t testing.TB, ns *Netns) *Kube {
	t.Helper()
	env := Env(t)
	k := &Kube{Kubeconfig: env["KUBECONFIG"], Server: env["AUDITFN_LOCAL_KUBE_SERVER"], pki: env["AUDITFN_LOCAL_KUBE_PKI"], ns: ns}
	u, err := url.Parse(k.Server)
	if err != nil || k.Kubeconfig == "" || k.pki == "" {
		t.Fatalf("stack.env names no local kube-apiserver (run `make up`): %v", err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(Root(t), ".local", "bin")
	dir := t.TempDir()
	startIn(t, ns, filepath.Join(dir, "etcd.log"), filepath.Join(bin, "etcd"),
		localkube.EtcdArgs(filepath.Join(dir, "etcd"), privateEtcdPort)...)
	client := ns.Client()
	waitOK(t, client, localkube.EtcdURL(privateEtcdPort)+"/health", filepath.Join(dir, "etcd.log"))
	startIn(t, ns, filepath.Join(dir, "kube-apiserver.log"), filepath.Join(bin, "kube-apiserver"),
		localkube.APIServerArgs(k.pki, filepath.Join(dir, "certs"), localkube.EtcdURL(privateEtcdPort), port)...)
	admin, err := k.adminHTTP()
	if err != nil {
		t.Fatal(err)
	}
	admin.Timeout = time.Second
	waitOK(t, admin, k.Server+"/readyz", filepath.Join(dir, "kube-apiserver.log"))

	crd := filepath.Join(Root(t), "infra", "crd", "workflowexecution.yaml")
	k.Admin().Must(t, "apply", "--server-side", "-f", crd)
	k.Admin().Must(t, "wait", "--for=condition=Established", "--timeout=30s", "-f", crd)
	k.createNamespace(t)
	return k
}

// startIn runs bin with args inside ns, its output in logFile, until the
// test ends; a failed test logs the output.
func startIn(t testing.TB, ns *Netns, logFile, bin string, args ...string) {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s (run `make up`): %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("output of %s:\n%s", filepath.Base(bin), tail(b, 4000))
		}
	})
}

func waitOK(t testing.TB, c *http.Client, url, logFile string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	b, _ := os.ReadFile(logFile)
	t.Fatalf("%s not OK after 60s:\n%s", url, tail(b, 4000))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// InstallUpstreamCRDs applies the named CRDs of localkube.UpstreamCRDs (the
// module zips cmd/localstack installs from) and waits until they are
// Established: a private API server has only the WorkflowExecution CRD.
func (k *Kube) InstallUpstreamCRDs(t testing.TB, names ...string) {
	t.Helper()
	docs, err := localkube.UpstreamCRDDocs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	for _, name := range names {
		doc, ok := docs[name]
		if !ok {
			t.Fatalf("no upstream CRD %s", name)
		}
		stream.WriteString("---\n")
		stream.Write(doc)
	}
	if out, err := k.Admin().RunInput(stream.Bytes(), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("apply %v: %v\n%s", names, err, out)
	}
	k.Admin().Must(t, append([]string{"wait", "--for=condition=Established", "--timeout=30s", "crd"}, names...)...)
}
