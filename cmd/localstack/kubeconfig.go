package main

import (
	"os"

	"sigs.k8s.io/yaml"

	"function/cmd/localstack/localca"
	"function/cmd/localstack/localkube"
)

// The kubeconfig format, only the fields written here.
type (
	kubeconfigFile struct {
		APIVersion     string         `json:"apiVersion"`
		Kind           string         `json:"kind"`
		Clusters       []namedCluster `json:"clusters"`
		Users          []namedUser    `json:"users"`
		Contexts       []namedContext `json:"contexts"`
		CurrentContext string         `json:"current-context"`
	}
	namedCluster struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CAData []byte `json:"certificate-authority-data"`
		} `json:"cluster"`
	}
	namedUser struct {
		Name string `json:"name"`
		User struct {
			CertData []byte `json:"client-certificate-data"`
			KeyData  []byte `json:"client-key-data"`
		} `json:"user"`
	}
	namedContext struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	}
)

const clusterName = "auditfn-local"

// writeKubeconfig writes .local/kubeconfig: one context per user, each
// named after it, the admin's current. Certificates are embedded, so the
// file works wherever it is copied.
func (k *kube) writeKubeconfig(ca *localca.CA) error {
	kc := kubeconfigFile{APIVersion: "v1", Kind: "Config", CurrentContext: localkube.Admin.Context}
	var c namedCluster
	c.Name, c.Cluster.Server, c.Cluster.CAData = clusterName, k.server(), ca.CertPEM
	kc.Clusters = []namedCluster{c}
	for _, u := range localkube.Users {
		var nu namedUser
		var err error
		nu.Name = u.Context
		if nu.User.CertData, err = os.ReadFile(k.pki(u.CertFile())); err != nil {
			return err
		}
		if nu.User.KeyData, err = os.ReadFile(k.pki(u.KeyFile())); err != nil {
			return err
		}
		var nc namedContext
		nc.Name, nc.Context.Cluster, nc.Context.User = u.Context, clusterName, u.Context
		kc.Users, kc.Contexts = append(kc.Users, nu), append(kc.Contexts, nc)
	}
	b, err := yaml.Marshal(kc)
	if err != nil {
		return err
	}
	// Renamed into place: tests of a running stack read it meanwhile.
	tmp := k.kubeconfig() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, k.kubeconfig())
}
