package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/cmd/localstack/localkube"
	"function/test/procs"
	"function/test/testenv"
)

// blockclearBehindTLS starts blockclear and, in front of it, what
// infra/webhook/proxy.yaml runs in a cluster: a TLS terminator (here with a
// certificate from the local CA) that forwards only the webhook path. It
// returns blockclear's own URL (where cluster events and pings go) and the
// proxy's. blockclear reconciles through the API server as its
// ServiceAccount, with the RBAC of infra/rbac/blockclear.yaml. With ns,
// blockclear and the proxy run inside that network namespace (where k's
// API server is).
func blockclearBehindTLS(t *testing.T, ns *testenv.Netns, k *testenv.Kube, sink, path string) (*procs.Proc, string) {
	t.Helper()
	k.Apply(t, "infra/rbac/blockclear.yaml")
	env := k.FunctionSettings(t, "auditfn-blockclear")
	env["AUDITFN_FUNCTION"], env["K_SINK"], env["AUDITFN_BLOCKCLEAR_RECONCILE_NAMESPACE"] = "blockclear", sink, k.Namespace
	bin := procs.Binary(t, "./cmd/auditfn")
	var bc *procs.Proc
	if ns == nil {
		bc = procs.Start(t, bin, procs.FreeAddr(t), env)
	} else {
		bc = procs.StartIn(t, ns, bin, procs.FreeAddr(t), env)
	}
	target, err := url.Parse(bc.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.Handle("POST "+path, proxy)
	srv := httptest.NewUnstartedServer(mux) // on 127.0.0.1
	if ns != nil {
		l, err := ns.Listen("127.0.0.1:0")
		require.NoError(t, err)
		srv.Listener.Close()
		srv.Listener = l
		proxy.Transport = ns.Client().Transport
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{k.ServingTLS(t, "127.0.0.1")}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return bc, srv.URL
}

// blockclearWebhook runs blockclear behind TLS and registers it with
// infra/webhook/mutatingwebhook.yaml as it is (rules, matchConditions,
// failure policy, timeouts), except for how the API server reaches it: the
// URL of the local proxy instead of the in-cluster Service, the local CA
// instead of cert-manager's injection, and only for the test's namespace
// (webhook configurations are cluster-wide, and tests run in parallel).
// It returns blockclear. With ns, see blockclearBehindTLS.
func blockclearWebhook(t *testing.T, ns *testenv.Netns, k *testenv.Kube, sink string) *procs.Proc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "infra", "webhook", "mutatingwebhook.yaml"))
	require.NoError(t, err)
	path, err := localkube.WebhookPath(raw)
	require.NoError(t, err)
	bc, proxy := blockclearBehindTLS(t, ns, k, sink, path)
	name, manifest, err := localkube.Webhook(raw, proxy, k.CABundle(t), k.Namespace)
	require.NoError(t, err)
	k.Admin().Create(t, manifest)
	t.Cleanup(func() { _, _ = k.Admin().Run("delete", "mutatingwebhookconfiguration", name) })
	return bc
}

// webhookCalled waits until the API server calls blockclear: a webhook
// configuration takes effect a moment after it is created. A too-short
// reason is then refused by blockclear rather than by the schema (which
// would refuse the missing clearedBy instead).
func webhookCalled(t *testing.T, k *testenv.Kube) {
	t.Helper()
	failedWFE(t, k, "wfe-probe")
	require.Eventually(t, func() bool {
		_, err := k.Admin().Run("patch", "workflowexecution", "wfe-probe", "--subresource=status", "--type=merge",
			"--dry-run=server", "-p", `{"status":{"blockClearance":{"clearReason":"short"}}}`)
		var ke *testenv.KubectlError
		return errors.As(err, &ke) && strings.Contains(ke.Stderr, "at least 10 characters")
	}, 15*time.Second, 100*time.Millisecond, "the API server never called blockclear")
}

// reconcile pings blockclear as the PingSource does: it lists the
// namespace's WorkflowExecutions through the API server and emits the
// event of every clearance persisted there. c reaches bc.
func reconcile(t *testing.T, c *http.Client, bc string) {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID("ping-" + strconv.FormatInt(time.Now().UnixNano(), 10))
	e.SetSource("/apis/v1/namespaces/kubernaut/pingsources/auditfn-blockclear-reconcile")
	e.SetType("dev.knative.sources.ping")
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), bc, e)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
}

// failedWFE creates a WorkflowExecution and, as Kubernaut's controller does,
// marks it Failed through the status subresource: a PreviousExecutionFailed
// block on its target.
func failedWFE(t *testing.T, k *testenv.Kube, name string) {
	t.Helper()
	k.Admin().Create(t, []byte(`{"apiVersion":"kubernaut.ai/v1alpha1","kind":"WorkflowExecution",
 "metadata":{"name":"`+name+`"},
 "spec":{"workflowRef":{"workflowId":"6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b","workflowName":"restart-pod","version":"1.2.0",
   "actionType":"RestartPod","executionBundle":"quay.io/kubernaut/restart-pod:1.2.0","executionEngine":"job"},
  "targetResource":"payments/Deployment/api",
  "remediationRequestRef":{"kind":"RemediationRequest","name":"rr-`+name+`","namespace":"`+k.Namespace+`"}}}`))
	k.Admin().Must(t, "patch", "workflowexecution", name, "--subresource=status", "--type=merge", "-p",
		`{"status":{"phase":"Failed","failureDetails":{"reason":"TaskFailed","message":"step restart exited 1",
  "failedAt":"2026-11-23T13:00:00Z","failedTaskName":"restart","failedTaskIndex":0,"wasExecutionFailure":true}}}`)
}

// docCommand is "the one command" of docs/block-clearance.md, as words,
// for the WFE name in namespace.
func docCommand(t *testing.T, name, namespace string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testenv.Root(t), "docs", "block-clearance.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## The one command\n\n```sh\n(.*?)\n```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/block-clearance.md has no command under \"The one command\"")
	line := strings.NewReplacer("\\\n", " ", "<name>", name, "<namespace>", namespace).Replace(string(m[1]))
	// Shell words: this command quotes only with single quotes.
	var words []string
	for i, part := range strings.Split(line, "'") {
		if i%2 == 1 {
			words = append(words, part)
		} else {
			words = append(words, strings.Fields(part)...)
		}
	}
	require.Equal(t, "kubectl", words[0])
	return words[1:]
}

type clearance struct {
	ClearReason     string    `json:"clearReason"`
	ClearMethod     string    `json:"clearMethod"`
	ClearedBy       string    `json:"clearedBy"`
	ClearedByUID    string    `json:"clearedByUID"`
	ClearedByGroups []string  `json:"clearedByGroups"`
	ClearedAt       time.Time `json:"clearedAt"`
}

func storedClearance(t *testing.T, k *testenv.Kube, name string) *clearance {
	t.Helper()
	var w struct {
		Status struct {
			BlockClearance *clearance `json:"blockClearance"`
		} `json:"status"`
	}
	k.Admin().Get(t, &w, "workflowexecution", name)
	return w.Status.BlockClearance
}

// Block clearance through a real kube-apiserver, with Kubernaut's own
// WorkflowExecution schema: the operator runs the documented command, the
// API server authenticates them and calls blockclear, and what etcd stores
// and what the audit trail records name the verified caller, whatever the
// request claimed. A caller without the role never reaches the webhook.
func TestBlockClearanceThroughTheAPIServer(t *testing.T) {
	k := testenv.NewKube(t)
	db := testenv.NewDB(t)
	col := collector(t, db, procs.FreeAddr(t))
	bc := blockclearWebhook(t, nil, k, col.URL()).URL()

	// Operators get the role infra/rbac/ grants for clearing blocks.
	k.Admin().Must(t, "apply", "--server-side", "-f", filepath.Join(testenv.Root(t), "infra", "rbac", "operators.yaml"))
	k.Admin().Must(t, "create", "rolebinding", "clear-blocks", "--clusterrole=auditfn-block-clearer",
		"--group="+localkube.Alice.Groups[0], "--serviceaccount="+k.Namespace+":oncall-bot")

	webhookCalled(t, k)

	forged := `{"status":{"blockClearance":{"clearReason":"root cause fixed in PR 1234, verified on staging",` +
		`"clearedBy":"mallory","clearedByUID":"forged","clearedByGroups":["system:masters"],"clearedAt":"2000-01-01T00:00:00Z"}}}`
	patch := func(name string) []string {
		return []string{"patch", "workflowexecution", name, "--subresource=status", "--type=merge", "-p", forged}
	}
	sa := k.ServiceAccountToken(t, "oncall-bot")
	for _, c := range []struct {
		name   string
		caller testenv.Kubectl
		args   []string
		user   string
		group  string
	}{
		{"wfe-doc", k.As(localkube.Alice), docCommand(t, "wfe-doc", k.Namespace), "alice", localkube.Alice.Groups[0]},
		{"wfe-forged", k.As(localkube.Alice), patch("wfe-forged"), "alice", localkube.Alice.Groups[0]},
		{"wfe-impersonated", k.Impersonating("carol", localkube.Alice.Groups[0]), patch("wfe-impersonated"), "carol", localkube.Alice.Groups[0]},
		{"wfe-sa", k.WithToken(sa), patch("wfe-sa"), "system:serviceaccount:" + k.Namespace + ":oncall-bot", "system:serviceaccounts"},
	} {
		failedWFE(t, k, c.name)
		before := time.Now().Truncate(time.Second)
		c.caller.Must(t, c.args...)
		got := storedClearance(t, k, c.name)
		require.NotNil(t, got, c.name)
		assert.Equal(t, c.user, got.ClearedBy, c.name)
		assert.Equal(t, "StatusField", got.ClearMethod, c.name)
		assert.Contains(t, got.ClearReason, "root cause fixed in PR 1234", c.name)
		assert.WithinRange(t, got.ClearedAt, before, time.Now().Add(time.Second), c.name)
		// Kubernaut's schema has no clearedByUID or clearedByGroups: the API
		// server prunes them, the forged ones and blockclear's alike. The
		// audit event carries them.
		assert.Empty(t, got.ClearedByUID, c.name)
		assert.Empty(t, got.ClearedByGroups, c.name)

		// Audited once seen persisted: here by the reconcile (no
		// ApiServerSource adapter runs in this test).
		reconcile(t, http.DefaultClient, bc)
		q := "audit.audit_events WHERE event_type = 'workflowexecution.block.cleared' AND correlation_id = 'rr-" + c.name + "'"
		require.Eventually(t, func() bool { return db.Count(t, q) == 1 }, 10*time.Second, 20*time.Millisecond, c.name)
		assert.Equal(t, c.user, db.Scalar(t, "SELECT actor_id FROM "+q), c.name)
		var groups []string
		require.NoError(t, json.Unmarshal([]byte(db.Scalar(t, "SELECT event_data->>'clearedByGroups' FROM "+q).(string)), &groups))
		assert.Contains(t, groups, c.group, c.name)
		assert.NotContains(t, groups, "system:masters", c.name)
	}

	// No record of a clearance that did not take effect: one the API server
	// refuses after blockclear admitted it (a ValidatingAdmissionPolicy runs
	// after mutating webhooks), and a server-side dry run.
	vetoPolicy(t, k)
	failedWFE(t, k, "wfe-vetoed")
	_, err := k.As(localkube.Alice).Run("patch", "workflowexecution", "wfe-vetoed", "--subresource=status", "--type=merge",
		"-p", `{"status":{"blockClearance":{"clearReason":"vetoed: root cause fixed in PR 1234"}}}`)
	var ke *testenv.KubectlError
	require.ErrorAs(t, err, &ke)
	assert.Contains(t, ke.Stderr, "vetoed by policy")
	assert.Nil(t, storedClearance(t, k, "wfe-vetoed"))
	failedWFE(t, k, "wfe-dry")
	out := k.As(localkube.Alice).Must(t, "patch", "workflowexecution", "wfe-dry", "--subresource=status", "--type=merge",
		"--dry-run=server", "-o", "json", "-p", `{"status":{"blockClearance":{"clearReason":"root cause fixed in PR 1234"}}}`)
	assert.Contains(t, out, `"clearedBy": "alice"`, "the dry run shows the stamped clearance")
	assert.Nil(t, storedClearance(t, k, "wfe-dry"))
	// A real clearance after them: once its event is in, anything emitted
	// before it would be too (one emitter, in order).
	failedWFE(t, k, "wfe-after")
	k.As(localkube.Alice).Must(t, docCommand(t, "wfe-after", k.Namespace)...)
	reconcile(t, http.DefaultClient, bc)
	require.Eventually(t, func() bool {
		return db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-wfe-after'") == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Zero(t, db.Count(t, "audit.audit_events WHERE correlation_id IN ('rr-wfe-vetoed', 'rr-wfe-dry')"),
		"no audit record claims a clearance that never took effect")

	// The first clearance stands, even for its author.
	_, err = k.As(localkube.Alice).Run("patch", "workflowexecution", "wfe-doc", "--subresource=status", "--type=merge",
		"-p", `{"status":{"blockClearance":{"clearReason":"a different reason, after the fact"}}}`)
	require.ErrorAs(t, err, &ke)
	assert.Contains(t, ke.Stderr, "already cleared by alice")

	// Kubernaut's schema takes a clearance with an empty reason and any
	// clearedBy; blockclear does not, nor an empty one (Kubernaut's
	// controller reads any blockClearance as cleared).
	failedWFE(t, k, "wfe-lax")
	for _, patch := range []string{
		`{"status":{"blockClearance":{"clearMethod":"StatusField","clearReason":"","clearedBy":"mallory"}}}`,
		`{"status":{"blockClearance":{}}}`,
		`{"status":{"blockClearance":{"clearMethod":"","clearReason":"","clearedBy":""}}}`,
	} {
		want := "at least 10 characters"
		_, err = k.As(localkube.Alice).Run("patch", "workflowexecution", "wfe-lax", "--subresource=status", "--type=merge", "-p", patch)
		require.ErrorAs(t, err, &ke, patch)
		assert.Contains(t, ke.Stderr, want, patch)
	}
	assert.Nil(t, storedClearance(t, k, "wfe-lax"))

	// Bob's team has no role on workflowexecutions/status: the API server
	// refuses him before admission, and nothing is stored or audited. The
	// documented command fails at kubectl's first step (it reads the object
	// before patching it); a write sent straight away fails too.
	failedWFE(t, k, "wfe-bob")
	bob := k.As(localkube.Bob)
	_, err = bob.Run(docCommand(t, "wfe-bob", k.Namespace)...)
	require.ErrorAs(t, err, &ke)
	assert.Contains(t, ke.Stderr, `Error from server (Forbidden)`)
	assert.Contains(t, ke.Stderr, `User "bob" cannot get resource "workflowexecutions/status"`)
	var obj map[string]any
	k.Admin().Get(t, &obj, "workflowexecution", "wfe-bob")
	obj["status"].(map[string]any)["blockClearance"] = map[string]any{"clearReason": "bob says it is fine now",
		"clearMethod": "StatusField", "clearedBy": "alice"}
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	_, err = bob.RunInput(b, "replace", "--raw",
		"/apis/kubernaut.ai/v1alpha1/namespaces/"+k.Namespace+"/workflowexecutions/wfe-bob/status", "-f", "-")
	require.ErrorAs(t, err, &ke)
	assert.Contains(t, ke.Stderr, `User "bob" cannot update resource "workflowexecutions/status"`)
	assert.Nil(t, storedClearance(t, k, "wfe-bob"))
	assert.Zero(t, db.Count(t, "audit.audit_events WHERE actor_id = 'bob'"))
}

// vetoPolicy makes the API server refuse, after admission webhooks, any
// WorkflowExecution status whose clear reason says "vetoed", in the test's
// namespace: an update blockclear admitted that never takes effect.
func vetoPolicy(t *testing.T, k *testenv.Kube) {
	t.Helper()
	name := "veto-" + k.Namespace
	k.Admin().Create(t, []byte(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingAdmissionPolicy",
 "metadata":{"name":"`+name+`"},
 "spec":{"failurePolicy":"Fail",
  "matchConstraints":{"resourceRules":[{"apiGroups":["kubernaut.ai"],"apiVersions":["*"],"operations":["UPDATE"],
    "resources":["workflowexecutions/status"]}]},
  "validations":[{"expression":"!has(object.status.blockClearance) || !object.status.blockClearance.clearReason.contains('vetoed')",
    "message":"vetoed by policy"}]}}`))
	k.Admin().Create(t, []byte(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingAdmissionPolicyBinding",
 "metadata":{"name":"`+name+`"},
 "spec":{"policyName":"`+name+`","validationActions":["Deny"],
  "matchResources":{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"`+k.Namespace+`"}}}}}`))
	t.Cleanup(func() {
		_, _ = k.Admin().Run("delete", "validatingadmissionpolicybinding", name)
		_, _ = k.Admin().Run("delete", "validatingadmissionpolicy", name)
	})
	// A policy takes effect a moment after it is created.
	failedWFE(t, k, "wfe-veto-probe")
	require.Eventually(t, func() bool {
		_, err := k.As(localkube.Alice).Run("patch", "workflowexecution", "wfe-veto-probe", "--subresource=status", "--type=merge",
			"--dry-run=server", "-p", `{"status":{"blockClearance":{"clearReason":"vetoed: probing the policy"}}}`)
		var ke *testenv.KubectlError
		return errors.As(err, &ke) && strings.Contains(ke.Stderr, "vetoed by policy")
	}, 15*time.Second, 100*time.Millisecond, "the API server never applied the policy")
}
