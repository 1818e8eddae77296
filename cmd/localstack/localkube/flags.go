package localkube

import (
	"fmt"
	"path/filepath"

	"function/cmd/localstack/localca"
)

// EtcdURL is the client URL of an etcd started with EtcdArgs.
func EtcdURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// EtcdArgs are the flags of a local etcd serving clients on 127.0.0.1:port
// (its peer port is the next one) from dataDir. cmd/localstack runs one for
// `make up`; tests run private ones (testenv.NewPrivateKube).
func EtcdArgs(dataDir string, port int) []string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", port+1)
	return []string{
		"--name=auditfn", "--data-dir=" + dataDir,
		"--listen-client-urls=" + EtcdURL(port), "--advertise-client-urls=" + EtcdURL(port),
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=auditfn=" + peer,
		// Throwaway data: no fsync spares the shared disk.
		"--unsafe-no-fsync", "--log-level=warn",
	}
}

// APIServerArgs are the flags of a local kube-apiserver on 127.0.0.1:port
// with the keys of the local CA's directory pki (which cmd/localstack
// makes), storing in the etcd at etcdURL, with its own generated files in
// certDir.
func APIServerArgs(pki, certDir, etcdURL string, port int) []string {
	f := func(name string) string { return filepath.Join(pki, name) }
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file=" + f("apiserver.crt"), "--tls-private-key-file=" + f("apiserver.key"),
		"--cert-dir=" + certDir,
		"--client-ca-file=" + f(localca.CertFile),
		"--service-account-key-file=" + f("sa.pub"), "--service-account-signing-key-file=" + f("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
		"--disable-admission-plugins=ResourceQuota",
		// With a loopback advertise address the default reconciler only
		// logs that the address is invalid; nothing here needs the
		// endpoints of the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}
