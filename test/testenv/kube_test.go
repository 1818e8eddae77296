package testenv_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/cmd/localstack/localkube"
	"function/test/testenv"
)

// Each way of calling the local API server reaches it as the identity it
// claims to be, as the API server itself reports it (SelfSubjectReview),
// and a namespace of the test's own is there meanwhile.
func TestKubeCallersAreWhoTheySay(t *testing.T) {
	k := testenv.NewKube(t)
	k.Admin().Must(t, "get", "namespace", k.Namespace)
	type whoami struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	for _, c := range []struct {
		who    string
		caller testenv.Kubectl
		user   string
		group  string
	}{
		{"admin", k.Admin(), localkube.Admin.Name, "system:masters"},
		{"alice", k.As(localkube.Alice), "alice", "kubernaut-operators"},
		{"bob", k.As(localkube.Bob), "bob", "platform-team"},
		{"impersonation", k.Impersonating("carol", "sre"), "carol", "sre"},
		{"service account", k.WithToken(k.ServiceAccountToken(t, "bot")), "system:serviceaccount:" + k.Namespace + ":bot",
			"system:serviceaccounts:" + k.Namespace},
	} {
		var got whoami
		require.NoError(t, json.Unmarshal([]byte(c.caller.Must(t, "auth", "whoami", "-o", "json")), &got), c.who)
		assert.Equal(t, c.user, got.Status.UserInfo.Username, c.who)
		assert.Contains(t, got.Status.UserInfo.Groups, c.group, c.who)
	}
}
