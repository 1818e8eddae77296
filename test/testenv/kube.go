package testenv

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"function/cmd/localstack/localca"
	"function/cmd/localstack/localkube"
)

// Kube is the local kube-apiserver that `make up` started, with a namespace
// of one test's own (removed when the test ends). Tests talk to it with the
// real kubectl, as operators do.
type Kube struct {
	Namespace  string
	Kubeconfig string
	Server     string // https://127.0.0.1:<port>
	pki        string // the local CA and the API server's keys
	ns         *Netns // where the API server runs, if not on the host
}

// NewKube creates a fresh namespace on the local API server.
func NewKube(t testing.TB) *Kube {
	t.Helper()
	env := Env(t)
	k := &Kube{Kubeconfig: env["KUBECONFIG"], Server: env["AUDITFN_LOCAL_KUBE_SERVER"], pki: env["AUDITFN_LOCAL_KUBE_PKI"]}
	if k.Kubeconfig == "" || k.Server == "" || k.pki == "" {
		t.Fatal("stack.env names no local kube-apiserver (run `make up`)")
	}
	k.createNamespace(t)
	t.Cleanup(func() { k.removeNamespace(t) })
	return k
}

func (k *Kube) createNamespace(t testing.TB) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	k.Namespace = "t-" + hex.EncodeToString(b)
	if out, err := k.Admin().Run("create", "namespace", k.Namespace); err != nil {
		t.Fatalf("create namespace on the local kube-apiserver (run `make up`): %v\n%s", err, out)
	}
}

// Kubectl runs kubectl as one identity, in the test's namespace.
type Kubectl struct {
	k   *Kube
	who []string // the flags that say who calls
}

// Admin is the cluster admin (group system:masters).
func (k *Kube) Admin() Kubectl { return k.As(localkube.Admin) }

// As is a user with a client certificate (localkube.Alice, Bob, ...).
func (k *Kube) As(u localkube.User) Kubectl {
	return Kubectl{k: k, who: []string{"--kubeconfig=" + k.Kubeconfig, "--context=" + u.Context}}
}

// Impersonating is the admin acting as user in groups (kubectl --as), as
// an operator's tooling with impersonation rights would.
func (k *Kube) Impersonating(user string, groups ...string) Kubectl {
	c := k.Admin()
	c.who = append(c.who, "--as="+user)
	for _, g := range groups {
		c.who = append(c.who, "--as-group="+g)
	}
	return c
}

// WithToken is whoever holds the bearer token. No kubeconfig: its client
// certificate would be sent too and win over the token.
func (k *Kube) WithToken(token string) Kubectl {
	return Kubectl{k: k, who: []string{"--kubeconfig=/dev/null", "--server=" + k.Server,
		"--certificate-authority=" + filepath.Join(k.pki, localca.CertFile), "--token=" + token}}
}

// ServiceAccountToken creates the service account name in the namespace and
// returns a token for it (the TokenRequest API, `kubectl create token`).
// Its user name is system:serviceaccount:<namespace>:<name>.
func (k *Kube) ServiceAccountToken(t testing.TB, name string) string {
	t.Helper()
	k.Admin().Must(t, "create", "serviceaccount", name)
	return strings.TrimSpace(k.Admin().Must(t, "create", "token", name))
}

// Apply applies a manifest of infra/ (path relative to the repository root)
// in the test's namespace: its objects' own namespace, the cluster one
// (kubernaut), is replaced by the test's.
func (k *Kube) Apply(t testing.TB, file string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(t), file))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("namespace: kubernaut\n"), []byte("namespace: "+k.Namespace+"\n"))
	if out, err := k.Admin().RunInput(b, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("apply %s: %v\n%s", file, err, out)
	}
}

// FunctionSettings are the settings with which a function process calls
// this API server as the service account name of the test's namespace
// (created if need be), as it would from a pod (kubeapi.FromSettings).
func (k *Kube) FunctionSettings(t testing.TB, name string) map[string]string {
	t.Helper()
	_, _ = k.Admin().Run("create", "serviceaccount", name) // may exist, from a manifest
	token := strings.TrimSpace(k.Admin().Must(t, "create", "token", name))
	dir := t.TempDir()
	ca, tok := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(ca, k.CABundle(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"AUDITFN_KUBE_API": k.Server, "AUDITFN_KUBE_CA_FILE": ca, "AUDITFN_KUBE_TOKEN_FILE": tok}
}

// ServingTLS is a certificate for hosts signed by the local CA, for a
// server the API server calls (a webhook whose caBundle is CABundle).
func (k *Kube) ServingTLS(t testing.TB, hosts ...string) tls.Certificate {
	t.Helper()
	ca := k.ca(t)
	cert, err := ca.ServerTLS(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// CABundle is the local CA's certificate (PEM).
func (k *Kube) CABundle(t testing.TB) []byte {
	t.Helper()
	return k.ca(t).CertPEM
}

func (k *Kube) ca(t testing.TB) *localca.CA {
	t.Helper()
	ca, err := localca.Load(k.pki)
	if err != nil {
		t.Fatalf("local CA (run `make up`): %v", err)
	}
	return ca
}

// Run runs kubectl with args in the test's namespace and returns its
// standard output; a failure's error carries its standard error.
func (c Kubectl) Run(args ...string) (string, error) {
	return c.RunInput(nil, args...)
}

// RunInput is Run with stdin (for `-f -`).
func (c Kubectl) RunInput(stdin []byte, args ...string) (string, error) {
	args = append(append(append([]string{}, c.who...), "--namespace="+c.k.Namespace), args...)
	cmd := exec.Command("kubectl", args...)
	if c.k.ns != nil {
		cmd = c.k.ns.Command("kubectl", args...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &KubectlError{Args: args, Stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// Must is Run that fails the test on error.
func (c Kubectl) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Create creates the objects of a JSON or YAML manifest.
func (c Kubectl) Create(t testing.TB, manifest []byte) {
	t.Helper()
	if _, err := c.RunInput(manifest, "create", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// Get decodes `kubectl get <args> -o json` into v.
func (c Kubectl) Get(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.Must(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

// KubectlError is a failed kubectl run; Stderr has the API server's answer
// ("Error from server (Forbidden): ...").
type KubectlError struct {
	Args   []string
	Stderr string
	err    error
}

func (e *KubectlError) Error() string {
	return "kubectl " + strings.Join(e.Args, " ") + ": " + e.err.Error() + ": " + e.Stderr
}

// removeNamespace deletes what the test left in its namespace, then the
// namespace. There is no controller manager to do either: the API server
// marks a deleted namespace Terminating and leaves its objects, so this
// deletes every kind of them and then clears the namespace's finalizer
// itself. Plain HTTP requests: kubectl's client-side rate limit would make
// the seventy-odd deletes take seconds.
func (k *Kube) removeNamespace(t testing.TB) {
	t.Helper()
	c, err := k.adminHTTP()
	if err == nil {
		err = k.removeNamespaceWith(c)
	}
	if err != nil {
		t.Errorf("remove namespace %s: %v", k.Namespace, err)
	}
}

func (k *Kube) removeNamespaceWith(c *http.Client) error {
	collections, err := namespacedCollections(c, k.Server)
	if err != nil {
		return err
	}
	nsPath := "/api/v1/namespaces/" + k.Namespace
	for _, col := range collections {
		if err := do(c, http.MethodDelete, k.Server+col.prefix+"/namespaces/"+k.Namespace+"/"+col.resource, nil, nil); err != nil {
			return err
		}
	}
	if err := do(c, http.MethodDelete, k.Server+nsPath, nil, nil); err != nil {
		return err
	}
	var ns map[string]any
	if err := do(c, http.MethodGet, k.Server+nsPath, nil, &ns); err != nil {
		return err
	}
	ns["spec"] = map[string]any{"finalizers": []string{}}
	return do(c, http.MethodPut, k.Server+nsPath+"/finalize", ns, nil)
}

// collection is a namespaced resource that can be deleted as a whole, under
// an API prefix ("/api/v1", "/apis/apps/v1").
type collection struct{ prefix, resource string }

var (
	collectionsOnce sync.Once
	collections     []collection
	collectionsErr  error
)

// namespacedCollections lists, once per test binary, every namespaced
// resource (in its group's preferred version) that supports
// deletecollection: two requests of aggregated discovery.
func namespacedCollections(c *http.Client, server string) ([]collection, error) {
	collectionsOnce.Do(func() {
		for _, root := range []string{"/api", "/apis"} {
			req, err := http.NewRequest(http.MethodGet, server+root, nil)
			if err != nil {
				collectionsErr = err
				return
			}
			req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
			var list struct {
				Items []struct {
					Metadata struct{ Name string }
					Versions []struct {
						Version   string
						Resources []struct {
							Resource string
							Scope    string
							Verbs    []string
						}
					}
				}
			}
			if collectionsErr = send(c, req, &list); collectionsErr != nil {
				return
			}
			for _, g := range list.Items {
				if len(g.Versions) == 0 {
					continue
				}
				v := g.Versions[0] // the preferred one
				prefix := path.Join(root, g.Metadata.Name, v.Version)
				for _, r := range v.Resources {
					if r.Scope == "Namespaced" && slices.Contains(r.Verbs, "deletecollection") {
						collections = append(collections, collection{prefix, r.Resource})
					}
				}
			}
		}
	})
	return collections, collectionsErr
}

// adminHTTP is an HTTP client of the API server as the admin.
func (k *Kube) adminHTTP() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(k.pki, localkube.Admin.CertFile()), filepath.Join(k.pki, localkube.Admin.KeyFile()))
	if err != nil {
		return nil, err
	}
	ca, err := localca.Load(k.pki)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}
	if k.ns != nil {
		tr.DialContext = k.ns.DialContext
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, nil
}

// do sends in (JSON, if not nil) and decodes the answer into out (if not nil).
func do(c *http.Client, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return send(c, req, out)
}

func send(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
