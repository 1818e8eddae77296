package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"function/cmd/localstack/localkube"
	"function/test/procs"
	"function/test/testenv"
)

// adapterSourceConfig is K_SOURCE_CONFIG for the upstream receive adapter
// as Knative's controller would derive it from the ApiServerSource of
// infra/eventing/sources.yaml (its resources and mode), watching namespace.
// Each resource's plural is the one its CRD on k declares.
func adapterSourceConfig(t *testing.T, k *testenv.Kube) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "infra", "eventing", "sources.yaml"))
	require.NoError(t, err)
	type source struct {
		Kind string
		Spec struct {
			Mode      string
			Resources []struct{ APIVersion, Kind string }
		}
	}
	var src source
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var s source
		require.NoError(t, yaml.Unmarshal([]byte(doc), &s))
		if s.Kind == "ApiServerSource" {
			src = s
			break
		}
	}
	require.Equal(t, "ApiServerSource", src.Kind, "infra/eventing/sources.yaml has no ApiServerSource")
	type gvr struct{ Group, Version, Resource string }
	cfg := struct {
		Namespaces []string `json:"namespaces"`
		Resources  []struct {
			GVR gvr `json:"gvr"`
		} `json:"resources"`
		Mode string `json:"mode"`
	}{Namespaces: []string{k.Namespace}, Mode: src.Spec.Mode}
	for _, r := range src.Spec.Resources {
		group, version, _ := strings.Cut(r.APIVersion, "/")
		plural := strings.TrimSpace(k.Admin().Must(t, "get", "crd", "-o",
			`jsonpath={.items[?(@.spec.names.kind=="`+r.Kind+`")].spec.names.plural}`))
		require.NotEmpty(t, plural, "no CRD of kind %s", r.Kind)
		cfg.Resources = append(cfg.Resources, struct {
			GVR gvr `json:"gvr"`
		}{gvr{group, version, plural}})
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	return string(b)
}

// startAdapter runs the upstream ApiServerSource receive adapter inside ns,
// as the ServiceAccount infra/rbac/apiserversource.yaml gives it, sending
// to sink.
func startAdapter(t *testing.T, ns *testenv.Netns, k *testenv.Kube, settings map[string]string, sink string) *procs.Proc {
	t.Helper()
	bin := filepath.Join(testenv.Root(t), ".local", "bin", "apiserver_receive_adapter")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the ApiServerSource adapter is not built (run `make up`): %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "`+settings["AUDITFN_KUBE_API"]+`", certificate-authority: "`+settings["AUDITFN_KUBE_CA_FILE"]+`"}}]
users: [{name: watcher, user: {tokenFile: "`+settings["AUDITFN_KUBE_TOKEN_FILE"]+`"}}]
contexts: [{name: watcher, context: {cluster: local, user: watcher}}]
current-context: watcher
`), 0o600))
	cmd := ns.Command(bin, "--kubeconfig="+kubeconfig)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NAME=auditfn-workflowexecutions", "NAMESPACE=" + k.Namespace,
		"K_SINK=" + sink, "K_SOURCE_CONFIG=" + adapterSourceConfig(t, k)}
	p := procs.Run(t, cmd)
	// Its last line before it lists and watches; the updates it may miss
	// right after (until the list is in) come from kubectl calls that take
	// longer than that.
	require.Eventually(t, func() bool { return strings.Contains(p.Output(), "Watch failures will be retried") },
		30*time.Second, 5*time.Millisecond, "the adapter did not start")
	return p
}

// A clearance made with kubectl reaches blockclear as the upstream
// ApiServerSource adapter's update event, with no reconcile, and is audited
// exactly once, however many updates of the object follow. The adapter
// talks to a private API server inside a network namespace (it listens on
// :8080 on all interfaces), and so does everything it calls.
func TestBlockClearanceThroughTheUpstreamAdapter(t *testing.T) {
	ns := testenv.NewNetns(t)
	k := testenv.NewPrivateKube(t, ns)
	db := testenv.NewDB(t)
	bin := procs.Binary(t, "./cmd/auditfn")
	col := procs.StartIn(t, ns, bin, procs.FreeAddr(t), map[string]string{
		"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": testenv.SocketDSN(t, db.AppDSN)})
	bc := blockclearWebhook(t, ns, k, col.URL())
	k.Admin().Must(t, "apply", "--server-side", "-f", filepath.Join(testenv.Root(t), "infra", "rbac", "operators.yaml"))
	k.Admin().Must(t, "create", "rolebinding", "clear-blocks", "--clusterrole=auditfn-block-clearer",
		"--group="+localkube.Alice.Groups[0])
	k.Apply(t, "infra/rbac/apiserversource.yaml")
	watcher := k.FunctionSettings(t, "auditfn-wfe-watcher")
	adapter := startAdapter(t, ns, k, watcher, bc.URL())

	webhookCalled(t, k)

	rows := func(name string) int64 {
		return db.Count(t, "audit.audit_events WHERE event_type = 'workflowexecution.block.cleared' AND correlation_id = 'rr-"+name+"'")
	}
	clearBlock := func(name string) time.Time {
		k.As(localkube.Alice).Must(t, docCommand(t, name, k.Namespace)...)
		return time.Now()
	}
	landed := func(name string, since time.Time) {
		t.Helper()
		require.Eventually(t, func() bool { return rows(name) == 1 }, 20*time.Second, 5*time.Millisecond, name)
		t.Logf("%s: kubectl returned → audit row in %s", name, time.Since(since).Round(time.Millisecond))
	}

	failedWFE(t, k, "wfe-a")
	landed("wfe-a", clearBlock("wfe-a"))
	// Later updates of the object come as more update events with the
	// clearance in them; a clearance after them is the barrier.
	k.Admin().Must(t, "label", "workflowexecution", "wfe-a", "touched=1")
	k.Admin().Must(t, "annotate", "workflowexecution", "wfe-a", "touched=2")
	failedWFE(t, k, "wfe-b")
	landed("wfe-b", clearBlock("wfe-b"))
	require.EqualValues(t, 1, rows("wfe-a"))

	// The adapter sends nothing for what changed while it was down, not
	// even once it is back: the reconcile is what lands such a clearance.
	adapter.Kill()
	failedWFE(t, k, "wfe-missed")
	clearBlock("wfe-missed")
	startAdapter(t, ns, k, watcher, bc.URL())
	failedWFE(t, k, "wfe-c")
	landed("wfe-c", clearBlock("wfe-c"))
	require.Zero(t, rows("wfe-missed"))
	reconcile(t, ns.Client(), bc.URL())
	// The ping is answered once the reconcile's events are in blockclear's
	// emitter, which sends in order: once the next clearance is in, they
	// are too. wfe-missed is now audited, and every clearance still once.
	failedWFE(t, k, "wfe-d")
	landed("wfe-d", clearBlock("wfe-d"))
	for _, name := range []string{"wfe-a", "wfe-b", "wfe-c", "wfe-missed"} {
		require.EqualValues(t, 1, rows(name), name)
	}
}
