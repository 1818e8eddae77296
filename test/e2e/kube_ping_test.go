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

	"function/archive/archivetest"
	"function/test/procs"
	"function/test/testenv"
)

// compactionPingSource is the PingSource of infra/eventing/sources.yaml
// whose sink is the collector, moved to namespace and sent to sink.
func compactionPingSource(t *testing.T, namespace, sink string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "infra", "eventing", "sources.yaml"))
	require.NoError(t, err)
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var src map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &src))
		spec, _ := src["spec"].(map[string]any)
		ref, _ := spec["sink"].(map[string]any)["ref"].(map[string]any)
		if src["kind"] != "PingSource" || ref["name"] != "auditfn-collector" {
			continue
		}
		src["metadata"].(map[string]any)["namespace"] = namespace
		spec["sink"] = map[string]any{"uri": sink}
		// Hourly in the YAML: every minute, so that the test waits one
		// minute boundary and not up to an hour. Nothing else changes.
		spec["schedule"] = "* * * * *"
		b, err := json.Marshal(src)
		require.NoError(t, err)
		return b
	}
	t.Fatal("infra/eventing/sources.yaml has no PingSource to the collector")
	return nil
}

// The compaction PingSource of infra/eventing/sources.yaml, run by the
// upstream PingSource adapter (mtping), makes the collector compact: a cold
// day is archived and its hot partition dropped, exactly as `make compact`
// would. mtping listens on :8080 on all interfaces, so it runs in a private
// network namespace with its own control plane, and so does the collector,
// which reaches PostgreSQL over its unix socket and MinIO (TCP only, on the
// host's loopback) through a forwarder on the namespace's loopback.
func TestACompactionPingFromTheUpstreamPingSourceAdapter(t *testing.T) {
	bin := filepath.Join(testenv.Root(t), ".local", "bin", "mtping")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("mtping is not built (run `make up`): %v", err)
	}
	ns := testenv.NewNetns(t)
	k := testenv.NewPrivateKube(t, ns)
	k.InstallUpstreamCRDs(t, "pingsources.sources.knative.dev")

	e := archivetest.New(t)
	d := archivetest.DaysAgo(100)
	const n = 30
	e.Seed(t, d, n)
	hot := e.HotRecords(t, d)
	settings := e.Settings()
	settings["AUDITFN_S3_ENDPOINT"] = ns.Forward(t, settings["AUDITFN_S3_ENDPOINT"])
	settings["AUDITFN_PG_DSN"] = testenv.SocketDSN(t, settings["AUDITFN_PG_DSN"])
	settings["AUDITFN_FUNCTION"] = "collector"
	col := procs.StartIn(t, ns, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), settings)

	// What Knative's eventing controller would do, as none runs here: the
	// system namespace's ConfigMaps mtping reads, and the source's status.
	for _, cm := range []string{"config-logging", "config-observability", "config-tracing", "config-features"} {
		k.Admin().Must(t, "create", "configmap", cm)
	}
	if out, err := k.Admin().RunInput(compactionPingSource(t, k.Namespace, col.URL()), "create", "-f", "-"); err != nil {
		t.Fatalf("create the PingSource: %v\n%s", err, out)
	}
	status, err := json.Marshal(map[string]any{"status": map[string]any{
		"observedGeneration": 1, "sinkUri": col.URL(),
		"conditions": []map[string]any{{"type": "Ready", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
	}})
	require.NoError(t, err)
	k.Admin().Must(t, "patch", "pingsource", "auditfn-compact", "--subresource=status", "--type=merge", "-p", string(status))

	// As the admin: mtping's own RBAC is Knative's, not auditfn's.
	cmd := ns.Command(bin, "--kubeconfig="+k.Kubeconfig)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NAMESPACE=" + k.Namespace, "SYSTEM_NAMESPACE=" + k.Namespace}
	procs.Run(t, cmd)

	// The first minute boundary, or the next if mtping was not yet watching.
	started := time.Now()
	require.Eventually(t, func() bool { return !e.PartitionExists(t, d) }, 2*time.Minute+10*time.Second, 5*time.Millisecond,
		"no compaction: the cold day's partition is still there")
	dropped := time.Now()
	tick := dropped.Truncate(time.Minute)
	// mtping sends at the tick; it logs nothing when it does.
	t.Logf("mtping started → partition dropped in %s; ping scheduled at %s → dropped in %s",
		dropped.Sub(started).Round(time.Millisecond), tick.Format(time.TimeOnly), dropped.Sub(tick).Round(time.Millisecond))

	require.Equal(t, hot, e.ArchivedRecords(t, d), "the archive holds the day's rows, once")
	require.EqualValues(t, 1, e.DB.Count(t, "(SELECT DISTINCT part FROM audit.archive_days WHERE event_date = $1) p", d), "one part")
	require.EqualValues(t, 1, e.DB.Count(t, "audit.archive_days WHERE event_date = $1 AND part = 1 AND state = 'dropped' AND row_count = $2", d, n))
	m := e.Manifests(t)
	require.Len(t, m, 1)
	require.Len(t, m[0].Parts, 1)
	require.EqualValues(t, n, m[0].RowCount)
}
