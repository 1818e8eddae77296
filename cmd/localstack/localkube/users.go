// Package localkube names the identities of the local kube-apiserver that
// `make up` starts: each has a client certificate signed by the local CA
// and a context of that name in .local/kubeconfig. cmd/localstack makes
// them; tests (test/testenv) act as them and check what the API server
// says about them.
package localkube

// User is a client-certificate identity: the API server takes the
// certificate's CommonName as the user name and its Organizations as the
// groups.
type User struct {
	Context string
	Name    string
	Groups  []string
}

// The users, the admin first (the kubeconfig's current context).
var (
	Admin = User{Context: "admin", Name: "auditfn-admin", Groups: []string{"system:masters"}}
	// Alice is an operator whose group is meant to hold the block-clearer
	// role; Bob is one of another team, without it.
	Alice = User{Context: "alice", Name: "alice", Groups: []string{"kubernaut-operators"}}
	Bob   = User{Context: "bob", Name: "bob", Groups: []string{"platform-team"}}
	Users = []User{Admin, Alice, Bob}
)

// CertFile and KeyFile name the user's client certificate and key in the
// local CA's directory.
func (u User) CertFile() string { return u.Context + ".crt" }

// KeyFile: see CertFile.
func (u User) KeyFile() string { return u.Context + ".key" }
