package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"function/cmd/localstack/localca"
	"function/cmd/localstack/localkube"
	"function/shared/config"
)

// The namespace of the local cluster where block clearance works as in a
// cluster: the API server calls blockclear for its WorkflowExecutions.
const kubeNamespace = "kubernaut"

// webhookAddr is where the API server reaches blockclear: over TLS, as
// infra/webhook/proxy.yaml fronts it in a cluster.
const webhookAddr = "127.0.0.1:8443"

// localKube is the local kube-apiserver `make up` started.
type localKube struct {
	kubeconfig, server, pki string
	dir                     string // .local/kube: the files made here
}

// kubeFrom is the local API server stack.env names, or nil without one.
func kubeFrom(stack config.Config) *localKube {
	if stack["KUBECONFIG"] == "" || stack["AUDITFN_LOCAL_KUBE_SERVER"] == "" {
		return nil
	}
	return &localKube{kubeconfig: stack["KUBECONFIG"], server: stack["AUDITFN_LOCAL_KUBE_SERVER"],
		pki: stack["AUDITFN_LOCAL_KUBE_PKI"], dir: filepath.Join(".local", "kube")}
}

// kubectl runs kubectl as the admin and returns its standard output.
func (k *localKube) kubectl(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", k.kubeconfig, "--context", localkube.Admin.Context}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func (k *localKube) apply(manifest []byte) error {
	_, err := k.kubectl(manifest, "apply", "--server-side", "--force-conflicts", "-f", "-")
	return err
}

// blockclearSettings prepares the namespace as infra/ would (blockclear's
// ServiceAccount and RBAC, the block-clearer role bound to alice's group)
// and returns the settings with which blockclear reconciles through the
// API server as its ServiceAccount.
func (k *localKube) blockclearSettings() ([]string, error) {
	ns := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, kubeNamespace)
	binding := fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
 "metadata":{"name":"local-operators-clear-blocks","namespace":%q},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"auditfn-block-clearer"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":%q}]}`, kubeNamespace, localkube.Alice.Groups[0])
	if err := k.apply([]byte(ns)); err != nil {
		return nil, err
	}
	for _, f := range []string{"infra/rbac/blockclear.yaml", "infra/rbac/operators.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := k.apply(b); err != nil {
			return nil, err
		}
	}
	if err := k.apply([]byte(binding)); err != nil {
		return nil, err
	}
	token, err := k.kubectl(nil, "create", "token", "auditfn-blockclear", "-n", kubeNamespace, "--duration=48h")
	if err != nil {
		return nil, err
	}
	ca, err := localca.Load(k.pki)
	if err != nil {
		return nil, err
	}
	caFile, tokenFile := filepath.Join(k.dir, "ca.crt"), filepath.Join(k.dir, "blockclear.token")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tokenFile, bytes.TrimSpace(token), 0o600); err != nil {
		return nil, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	return []string{"AUDITFN_KUBE_API=" + k.server, "AUDITFN_KUBE_CA_FILE=" + abs(caFile), "AUDITFN_KUBE_TOKEN_FILE=" + abs(tokenFile),
		"AUDITFN_BLOCKCLEAR_RECONCILE_NAMESPACE=" + kubeNamespace}, nil
}

// registerWebhook fronts blockclear (at addr) with TLS on webhookAddr and
// registers infra/webhook's configuration for the namespace with the API
// server. The returned stop removes the registration: with blockclear gone,
// the API server would refuse every WorkflowExecution status update there.
func (k *localKube) registerWebhook(log *slog.Logger, addr string) (func(), error) {
	raw, err := os.ReadFile("infra/webhook/mutatingwebhook.yaml")
	if err != nil {
		return nil, err
	}
	path, err := localkube.WebhookPath(raw)
	if err != nil {
		return nil, err
	}
	ca, err := localca.Load(k.pki)
	if err != nil {
		return nil, err
	}
	cert, err := ca.ServerTLS("127.0.0.1")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+path, httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr}))
	srv := &http.Server{Addr: webhookAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() {
		if err := srv.ListenAndServeTLS("", ""); err != http.ErrServerClosed {
			log.Error("webhook TLS front", "err", err)
		}
	}()
	name, manifest, err := localkube.Webhook(raw, "https://"+webhookAddr, ca.CertPEM, kubeNamespace)
	if err != nil {
		return nil, err
	}
	if err := k.apply(manifest); err != nil {
		return nil, err
	}
	return func() {
		if _, err := k.kubectl(nil, "delete", "mutatingwebhookconfiguration", name); err != nil {
			log.Error("remove the webhook registration", "err", err)
		}
		_ = srv.Close()
	}, nil
}

// reconcileEvery is how often `make run` pings blockclear's reconcile: it
// stands in for the ApiServerSource, which needs Knative's adapter.
const reconcileEvery = 10 * time.Second

func pingReconcile(ctx context.Context, log *slog.Logger, blockclear string) {
	ping(ctx, log, "reconcile ping", blockclear, "/localrun/reconcile", nil, reconcileEvery, reconcileEvery, false)
}
