package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"function/cmd/localstack/localca"
	"function/cmd/localstack/localkube"
)

// kube is the local Kubernetes control plane: etcd and kube-apiserver, built
// once into .local/bin, run as daemons under .local/kube, on 127.0.0.1 only.
// There is no controller manager, scheduler or kubelet: the API server
// alone serves CRDs, RBAC, admission webhooks and service-account tokens.
type kube struct {
	root, local string
	dir         string // .local/kube
	etcdPort    int    // its peer port is the next one
	apiPort     int
}

func newKube(root, local string, etcdPort, apiPort int) *kube {
	return &kube{root: root, local: local, dir: filepath.Join(local, "kube"), etcdPort: etcdPort, apiPort: apiPort}
}

func (k *kube) pkiDir() string      { return filepath.Join(k.dir, "pki") }
func (k *kube) pki(f string) string { return filepath.Join(k.pkiDir(), f) }
func (k *kube) kubeconfig() string  { return filepath.Join(k.local, "kubeconfig") }
func (k *kube) server() string      { return fmt.Sprintf("https://127.0.0.1:%d", k.apiPort) }
func (k *kube) etcdURL() string     { return localkube.EtcdURL(k.etcdPort) }
func (k *kube) etcdData() string    { return filepath.Join(k.dir, "etcd-data") }

func (k *kube) etcd() daemon {
	return daemon{name: "etcd", pidFile: filepath.Join(k.dir, "etcd.pid"), logFile: filepath.Join(k.dir, "etcd.log")}
}

func (k *kube) apiserver() daemon {
	return daemon{name: "kube-apiserver", pidFile: filepath.Join(k.dir, "kube-apiserver.pid"),
		logFile: filepath.Join(k.dir, "kube-apiserver.log")}
}

// env is what stack.env says about the cluster.
func (k *kube) env() string {
	return fmt.Sprintf("KUBECONFIG=%s\nAUDITFN_LOCAL_KUBE_SERVER=%s\nAUDITFN_LOCAL_KUBE_PKI=%s\n",
		k.kubeconfig(), k.server(), k.pkiDir())
}

func (k *kube) up(ctx context.Context) error {
	bin := filepath.Join(k.local, "bin")
	for _, c := range kubeComponents {
		if err := c.build(ctx, k.root, bin); err != nil {
			return err
		}
	}
	ca, err := k.makePKI()
	if err != nil {
		return err
	}
	if !k.etcdHealthy() {
		k.etcd().kill()
		if err := k.startEtcd(filepath.Join(bin, etcdComponent.name)); err != nil {
			return err
		}
	}
	client, err := k.adminClient(ca)
	if err != nil {
		return err
	}
	if !k.apiserverReady(client) {
		k.apiserver().kill()
		if err := k.startAPIServer(filepath.Join(bin, apiserverComponent.name), client); err != nil {
			return err
		}
	}
	if err := k.writeKubeconfig(ca); err != nil {
		return err
	}
	return k.installCRDs(ctx)
}

// makePKI makes (once) the CA, the API server's serving certificate, a
// client certificate per user and the service-account signing key pair.
func (k *kube) makePKI() (*localca.CA, error) {
	ca, err := localca.LoadOrCreate(k.pkiDir())
	if err != nil {
		return nil, err
	}
	type pair struct {
		cert, key string
		leaf      localca.Leaf
	}
	pairs := []pair{{"apiserver.crt", "apiserver.key",
		localca.Leaf{Subject: subject("kube-apiserver"), Hosts: []string{"127.0.0.1", "localhost"}}}}
	for _, u := range localkube.Users {
		pairs = append(pairs, pair{u.CertFile(), u.KeyFile(), localca.Leaf{Subject: subject(u.Name, u.Groups...), Client: true}})
	}
	for _, p := range pairs {
		if exists(k.pki(p.key)) {
			continue
		}
		cert, key, err := ca.Issue(p.leaf)
		if err != nil {
			return nil, err
		}
		if err := writePair(k.pki(p.cert), cert, k.pki(p.key), key); err != nil {
			return nil, err
		}
	}
	if !exists(k.pki("sa.key")) {
		key, err := localca.NewKey()
		if err != nil {
			return nil, err
		}
		pub, err := localca.PublicKeyPEM(key)
		if err != nil {
			return nil, err
		}
		priv, err := localca.KeyPEM(key)
		if err != nil {
			return nil, err
		}
		if err := writePair(k.pki("sa.pub"), pub, k.pki("sa.key"), priv); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

func subject(commonName string, orgs ...string) pkix.Name {
	return pkix.Name{CommonName: commonName, Organization: orgs}
}

// writePair writes the public half first: the private one marks the pair
// as complete.
func writePair(pubPath string, pub []byte, keyPath string, key []byte) error {
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, key, 0o600)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (k *kube) etcdHealthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(k.etcdURL() + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (k *kube) startEtcd(bin string) error {
	return k.etcd().start(bin, localkube.EtcdArgs(k.etcdData(), k.etcdPort), nil, 30*time.Second, k.etcdHealthy)
}

// adminClient is an HTTP client that trusts the local CA and presents the
// admin's certificate.
func (k *kube) adminClient(ca *localca.CA) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(k.pki(localkube.Admin.CertFile()), k.pki(localkube.Admin.KeyFile()))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}, nil
}

func (k *kube) apiserverReady(c *http.Client) bool {
	resp, err := c.Get(k.server() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (k *kube) startAPIServer(bin string, c *http.Client) error {
	return k.apiserver().start(bin, localkube.APIServerArgs(k.pkiDir(), filepath.Join(k.dir, "apiserver-certs"), k.etcdURL(), k.apiPort),
		nil, 90*time.Second, func() bool { return k.apiserverReady(c) })
}

func (k *kube) down() error {
	errAPI := k.apiserver().stop(20 * time.Second)
	errEtcd := k.etcd().stop(20 * time.Second)
	// The cluster holds only what `make up` installs again in seconds and
	// what tests left (a killed test leaves its namespace: there is no
	// namespace controller), so a wipe is how each `make test` starts clean.
	if errEtcd == nil {
		errEtcd = os.RemoveAll(k.etcdData())
	}
	if errAPI != nil {
		return errAPI
	}
	return errEtcd
}
