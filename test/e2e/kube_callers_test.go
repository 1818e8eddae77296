package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/infra/catalog"
	"function/test/procs"
	"function/test/testenv"
)

// getAs is a GET with a bearer token ("": none).
func getAs(t *testing.T, token, u string) (int, string) {
	t.Helper()
	return sendAs(t, token, http.MethodGet, u, "")
}

// The query API in the cluster's auth mode, against the real TokenReview
// and SubjectAccessReview, as infra/rbac/query.yaml sets it up: a token
// bound to auditfn-auditor reads, one that is not is forbidden, one the API
// server does not know is unauthenticated.
func TestQueryCallersAreCheckedByTheAPIServer(t *testing.T) {
	k := testenv.NewKube(t)
	db := testenv.NewDB(t)
	k.Apply(t, "infra/rbac/query.yaml")
	env := k.FunctionSettings(t, "auditfn-query")
	env["AUDITFN_FUNCTION"], env["AUDITFN_PG_DSN"], env["AUDITFN_QUERY_AUTH"] = "query", db.AppDSN, "kubernetes"
	q := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), env)

	auditor := k.ServiceAccountToken(t, "auditor")
	binding := "auditor-" + k.Namespace
	k.Admin().Must(t, "create", "clusterrolebinding", binding, "--clusterrole=auditfn-auditor", "--serviceaccount="+k.Namespace+":auditor")
	t.Cleanup(func() { _, _ = k.Admin().Run("delete", "clusterrolebinding", binding) })
	nosy := k.ServiceAccountToken(t, "nosy")

	events := q.URL() + "/api/v1/audit/events?" + url.Values{"correlation_id": {"rr-none"}}.Encode()
	// RBAC takes effect a moment after the binding is created.
	require.Eventually(t, func() bool { status, _ := getAs(t, auditor, events); return status == http.StatusOK },
		10*time.Second, 100*time.Millisecond, "an auditor bound to auditfn-auditor reads")
	status, body := getAs(t, nosy, events)
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = getAs(t, "not-a-token-the-api-server-knows", events)
	assert.Equal(t, http.StatusUnauthorized, status, body)
	status, _ = getAs(t, "", events)
	assert.Equal(t, http.StatusUnauthorized, status)
}

// Placing and releasing a legal hold in the cluster's auth mode needs
// auditfn-legal-hold (create and delete on auditevents/legalhold) on top of
// auditfn-auditor: an auditor without it is forbidden and nothing is
// stored; one bound to it places and releases, recorded as the identity the
// API server names, in the table and in the log.
func TestLegalHoldCallersAreCheckedByTheAPIServer(t *testing.T) {
	k := testenv.NewKube(t)
	db := testenv.NewDB(t)
	col := collector(t, db, procs.FreeAddr(t))
	k.Apply(t, "infra/rbac/query.yaml")
	env := k.FunctionSettings(t, "auditfn-query")
	env["AUDITFN_FUNCTION"], env["AUDITFN_PG_DSN"], env["AUDITFN_QUERY_AUTH"], env["K_SINK"] = "query", db.AppDSN, "kubernetes", col.URL()
	q := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), env)

	officer, auditor := k.ServiceAccountToken(t, "officer"), k.ServiceAccountToken(t, "auditor")
	for _, b := range []struct{ name, role, sa string }{
		{"officer-read-" + k.Namespace, "auditfn-auditor", "officer"},
		{"officer-hold-" + k.Namespace, "auditfn-legal-hold", "officer"},
		{"auditor-read-" + k.Namespace, "auditfn-auditor", "auditor"},
	} {
		k.Admin().Must(t, "create", "clusterrolebinding", b.name, "--clusterrole="+b.role, "--serviceaccount="+k.Namespace+":"+b.sa)
		t.Cleanup(func() { _, _ = k.Admin().Run("delete", "clusterrolebinding", b.name) })
	}
	holds := q.URL() + "/api/v1/audit/legal-holds"
	place := `{"correlation_id":"rr-held","reason":"litigation 42"}`
	require.Eventually(t, func() bool {
		status, _ := sendAs(t, auditor, http.MethodGet, holds, "")
		return status == http.StatusOK
	},
		10*time.Second, 100*time.Millisecond, "the auditor reads holds")
	status, body := sendAs(t, auditor, http.MethodPost, holds, place)
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = sendAs(t, "", http.MethodPost, holds, place)
	assert.Equal(t, http.StatusUnauthorized, status, body)
	assert.Zero(t, db.Count(t, "audit.legal_holds"))

	require.Eventually(t, func() bool {
		status, _ := sendAs(t, officer, http.MethodPost, holds, place)
		return status == http.StatusCreated
	},
		10*time.Second, 100*time.Millisecond, "an officer bound to auditfn-legal-hold places a hold")
	status, body = sendAs(t, auditor, http.MethodDelete, holds+"/rr-held", `{"reason":"closed"}`)
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = sendAs(t, officer, http.MethodDelete, holds+"/rr-held", `{"reason":"closed"}`)
	require.Equal(t, http.StatusOK, status, body)

	who := "system:serviceaccount:" + k.Namespace + ":officer"
	assert.Equal(t, int64(2), db.Count(t, "audit.legal_holds WHERE actor = $1", who))
	require.Eventually(t, func() bool {
		return db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-held' AND actor_id = $1 AND actor_type = 'service'", who) == 2
	}, 10*time.Second, 20*time.Millisecond, "placed and released, each one audit event")
}

// sendAs is a request with a JSON body and a bearer token ("": none).
func sendAs(t *testing.T, token, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// Discovery in the cluster's auth mode records who really called: the
// ServiceAccount the API server says holds the token, not the fixed
// holmesgpt-api; a call without a token it accepts gets 401 and leaves no
// audit event.
func TestDiscoveryRecordsTheVerifiedCaller(t *testing.T) {
	k := testenv.NewKube(t)
	db := testenv.NewDB(t)
	loadCatalog(t, db, catalog.FS)
	col := collector(t, db, procs.FreeAddr(t))
	k.Apply(t, "infra/rbac/discovery.yaml")
	env := k.FunctionSettings(t, "auditfn-discovery")
	env["AUDITFN_FUNCTION"], env["AUDITFN_PG_DSN"], env["K_SINK"], env["AUDITFN_DISCOVERY_AUTH"] = "actions", db.AppDSN, col.URL(), "kubernetes"
	actions := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), env)

	ask := func(rr string) string {
		return actions.URL() + "/api/v1/workflows/actions?" + url.Values{"severity": {"critical"}, "component": {"apps/v1/Deployment"},
			"environment": {"production"}, "priority": {"P1"}, "remediationId": {rr}}.Encode()
	}
	for _, token := range []string{"", "forged-token"} {
		status, body := getAs(t, token, ask("rr-anonymous"))
		assert.Equal(t, http.StatusUnauthorized, status, body)
	}
	hapi := k.ServiceAccountToken(t, "holmesgpt-api")
	status, body := getAs(t, hapi, ask("rr-verified"))
	require.Equal(t, http.StatusOK, status, body)

	// One emitter, in order: once the verified call's event is in, the
	// refused ones' would be too.
	require.Eventually(t, func() bool { return db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-verified'") == 1 },
		10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "system:serviceaccount:"+k.Namespace+":holmesgpt-api", db.Scalar(t, "SELECT actor_id FROM audit.audit_events WHERE correlation_id = 'rr-verified'"))
	assert.Equal(t, "service", db.Scalar(t, "SELECT actor_type FROM audit.audit_events WHERE correlation_id = 'rr-verified'"))
	assert.Zero(t, db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-anonymous'"), "a refused caller leaves no audit event")
}
