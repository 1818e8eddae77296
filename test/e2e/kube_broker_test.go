package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"function/shared/auditevent"
	"function/shared/eventauth"
	"function/test/fixtures"
	"function/test/procs"
	"function/test/testenv"
)

// recordingSink stands in for a Knative Service that a Trigger or the
// delivery spec names and the test does not run: it keeps every CloudEvent
// it gets and answers 202.
type recordingSink struct {
	URL string
	mu  sync.Mutex
	got []cloudevents.Event
}

func newRecordingSink(t *testing.T, ns *testenv.Netns) *recordingSink {
	t.Helper()
	l, err := ns.Listen("127.0.0.1:0")
	require.NoError(t, err)
	s := &recordingSink{URL: "http://" + l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, *e)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// ids are the ids of the events received, in order.
func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, e := range s.got {
		out = append(out, e.ID())
	}
	return out
}

// upstreamBinary is a Knative binary that `make up` built into .local/bin.
func upstreamBinary(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(testenv.Root(t), ".local", "bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is not built (run `make up`): %v", name, err)
	}
	return bin
}

// freePorts are n distinct ports free on the host's loopback and on ns's:
// below ns's ephemeral range, so that no connection there takes one before
// the process meant to listen on it does.
func freePorts(t *testing.T, ns *testenv.Netns, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		addr := procs.FreeAddr(t)
		l, err := ns.Listen(addr)
		if err != nil {
			continue // taken in ns
		}
		l.Close()
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	return ports
}

// triggerNames are the names of the Triggers in infra/eventing/triggers.yaml.
func triggerNames(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(t), "infra", "eventing", "triggers.yaml"))
	require.NoError(t, err)
	var names []string
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if obj.Kind == "Trigger" {
			names = append(names, obj.Metadata.Name)
		}
	}
	require.NotEmpty(t, names, "infra/eventing/triggers.yaml has no Trigger")
	return names
}

// readyStatus is a status with a Ready condition, as Knative's controllers
// write it, plus fields.
func readyStatus(generation int64, fields map[string]any) string {
	status := map[string]any{"observedGeneration": generation, "conditions": []map[string]any{{
		"type": "Ready", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
	for k, v := range fields {
		status[k] = v
	}
	b, _ := json.Marshal(map[string]any{"status": status})
	return string(b)
}

// traceParent is a fresh W3C traceparent.
func traceParent() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// The upstream multi-tenant Broker, run from infra/eventing/broker.yaml with
// every Trigger of infra/eventing/triggers.yaml as they are, delivers each
// audit event type to the collector exactly once, signature intact, the
// WorkflowExecution updates to blockclear, and nothing else anywhere. The
// functions' emitter gets its batches refused and sends single events; an
// event sent while the collector is down lands once it is back, through
// the Trigger's retries; one the collector refuses is dead-lettered.
//
// The data plane is Knative's own: the Broker ingress, the InMemoryChannel
// dispatcher behind it (one subscriber per Trigger: the fan-out) and the
// Broker filter, which applies each Trigger's filter. They listen on all
// interfaces, so they run in a private network namespace with their own
// control plane, like the collector, which reaches PostgreSQL over its unix
// socket. No eventing controller runs: the test writes what it would.
func TestTheUpstreamBrokerRoutesEveryAuditTypeToTheCollectorOnly(t *testing.T) {
	ingressBin, filterBin, imcBin := upstreamBinary(t, "broker_ingress"), upstreamBinary(t, "broker_filter"),
		upstreamBinary(t, "imc_dispatcher")
	ns := testenv.NewNetns(t)
	k := testenv.NewPrivateKube(t, ns)
	k.InstallUpstreamCRDs(t, "brokers.eventing.knative.dev", "triggers.eventing.knative.dev",
		"inmemorychannels.messaging.knative.dev", "subscriptions.messaging.knative.dev",
		"eventpolicies.eventing.knative.dev", "eventtypes.eventing.knative.dev")

	// The functions' events are signed, as in the cluster: a signature
	// covers every attribute the collector stores, so it also proves that
	// the Broker passed them on unchanged.
	const key = "e2e-broker-key-0123456789abcdef0123456789"
	keysFile := filepath.Join(t.TempDir(), "event-keys")
	require.NoError(t, os.WriteFile(keysFile, []byte(key+"\n"), 0o600))
	keys, err := eventauth.Parse([]byte(key))
	require.NoError(t, err)
	db := testenv.NewDB(t)
	auditfn := procs.Binary(t, "./cmd/auditfn")
	colEnv := map[string]string{"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": testenv.SocketDSN(t, db.AppDSN),
		eventauth.Setting: keysFile}
	col := procs.StartIn(t, ns, auditfn, procs.FreeAddr(t), colEnv)
	blockclear, deadLetters := newRecordingSink(t, ns), newRecordingSink(t, ns)

	k.Apply(t, "infra/eventing/broker.yaml")
	k.Apply(t, "infra/eventing/triggers.yaml")

	// What Knative's eventing controller would do, as none runs here. The
	// ingress and the filter take their own ports: the dispatcher's are
	// fixed (8080, 8443), and both of theirs default to those too.
	ports := freePorts(t, ns, 5)
	ingressAddr, filterAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	brokerURL := "http://" + ingressAddr + "/" + k.Namespace + "/auditfn"
	// The Services the manifests name, resolved to their stand-ins.
	services := map[string]string{"auditfn-collector": col.URL(), "auditfn-blockclear": blockclear.URL,
		"auditfn-deadletter": deadLetters.URL}
	resolve := func(ref map[string]any) string {
		t.Helper()
		name, _ := ref["name"].(string)
		u, ok := services[name]
		require.True(t, ok, "no stand-in for %v", ref)
		return u
	}
	for _, cm := range []string{"config-logging", "config-observability", "config-tracing", "config-features"} {
		k.Admin().Must(t, "create", "configmap", cm)
	}

	type object struct {
		Metadata struct {
			Name       string
			UID        string
			Generation int64
		}
		Spec struct {
			Subscriber struct{ Ref map[string]any }
			Delivery   map[string]any
		}
	}
	var triggers struct{ Items []object }
	k.Admin().Get(t, &triggers, "triggers")
	var names []string
	for _, tr := range triggers.Items {
		names = append(names, tr.Metadata.Name)
	}
	require.ElementsMatch(t, triggerNames(t), names)
	var broker object
	k.Admin().Get(t, &broker, "broker", "auditfn")

	// The channel behind the Broker (the class's <broker>-kne-trigger), with
	// the subscriber the controller derives from each Trigger's
	// Subscription: to the filter, the Trigger's delivery spec with its
	// dead-letter sink resolved, replies back to the Broker. No
	// async-handler annotation, as broker.yaml's template has none: the
	// fan-out answers the ingress only once every subscriber has (dead
	// letters included), so what has not arrived by a 202 never will.
	const imcName = "auditfn-kne-trigger"
	imcURL := "http://127.0.0.1:8080/" + k.Namespace + "/" + imcName
	var subscribers []map[string]any
	for _, tr := range triggers.Items {
		delivery := tr.Spec.Delivery
		dls, _ := delivery["deadLetterSink"].(map[string]any)
		require.NotNil(t, dls, "Trigger %s has no dead-letter sink", tr.Metadata.Name)
		delivery["deadLetterSink"] = map[string]any{"uri": resolve(dls["ref"].(map[string]any))}
		subscribers = append(subscribers, map[string]any{
			"uid": uuid.NewString(), "generation": 1, "delivery": delivery, "replyUri": brokerURL,
			"subscriberUri": "http://" + filterAddr + "/triggers/" + k.Namespace + "/" + tr.Metadata.Name + "/" + tr.Metadata.UID,
		})
		k.Admin().Must(t, "patch", "trigger", tr.Metadata.Name, "--subresource=status", "--type=merge", "-p",
			readyStatus(tr.Metadata.Generation, map[string]any{
				"subscriberUri":     resolve(tr.Spec.Subscriber.Ref),
				"deadLetterSinkUri": delivery["deadLetterSink"].(map[string]any)["uri"],
			}))
	}
	imc, err := json.Marshal(map[string]any{
		"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
		"metadata": map[string]any{"name": imcName, "ownerReferences": []map[string]any{{
			"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "auditfn", "uid": broker.Metadata.UID,
			"controller": true, "blockOwnerDeletion": true}}},
		"spec": map[string]any{"subscribers": subscribers},
	})
	require.NoError(t, err)
	k.Admin().Create(t, imc)
	k.Admin().Must(t, "patch", "inmemorychannel", imcName, "--subresource=status", "--type=merge", "-p",
		readyStatus(1, map[string]any{"address": map[string]any{"url": imcURL}}))
	k.Admin().Must(t, "patch", "broker", "auditfn", "--subresource=status", "--type=merge", "-p",
		readyStatus(broker.Metadata.Generation, map[string]any{
			"address":           map[string]any{"url": brokerURL},
			"deadLetterSinkUri": resolve(broker.Spec.Delivery["deadLetterSink"].(map[string]any)["ref"].(map[string]any)),
			"annotations": map[string]any{
				"knative.dev/channelAddress":    imcURL,
				"knative.dev/channelAPIVersion": "messaging.knative.dev/v1",
				"knative.dev/channelKind":       "InMemoryChannel",
				"knative.dev/channelName":       imcName,
			},
		}))

	// As the admin: their RBAC is Knative's, not auditfn's.
	start := func(bin, name string, env ...string) *procs.Proc {
		cmd := ns.Command(bin, "--kubeconfig="+k.Kubeconfig)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SYSTEM_NAMESPACE=" + k.Namespace,
			"POD_NAME=" + name, "CONTAINER_NAME=" + name}, env...)
		return procs.Run(t, cmd)
	}
	// No NAMESPACE for the dispatcher, as in Knative's deployment: with it,
	// it takes only channels annotated eventing.knative.dev/scope=namespace.
	start(imcBin, "imc-dispatcher", "MAX_IDLE_CONNS=1000", "MAX_IDLE_CONNS_PER_HOST=1000")
	filter := start(filterBin, "filter", "NAMESPACE="+k.Namespace,
		"FILTER_PORT="+strconv.Itoa(ports[2]), "FILTER_PORT_HTTPS="+strconv.Itoa(ports[3]))
	start(ingressBin, "ingress", "NAMESPACE="+k.Namespace,
		"INGRESS_PORT="+strconv.Itoa(ports[0]), "INGRESS_PORT_HTTPS="+strconv.Itoa(ports[1]))

	// Ready once the dispatcher has taken every subscriber (it marks them
	// in the channel's status, as the Subscription controller waits for)
	// and the ingress and the filter listen: they do once their informers
	// have synced.
	require.Eventually(t, func() bool {
		out, err := k.Admin().Run("get", "inmemorychannel", imcName, "-o", `jsonpath={.status.subscribers[?(@.ready=="True")].uid}`)
		return err == nil && len(strings.Fields(out)) == len(subscribers)
	}, 60*time.Second, 50*time.Millisecond, "the dispatcher did not take the channel's subscribers")
	for _, addr := range []string{ingressAddr, filterAddr} {
		require.Eventually(t, func() bool {
			c, err := ns.DialContext(context.Background(), "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 60*time.Second, 10*time.Millisecond, "nothing listens on %s", addr)
	}

	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: ns.DialContext}}
	send := func(e cloudevents.Event) (int, error) {
		req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), brokerURL, e)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	post := func(e cloudevents.Event) int {
		t.Helper()
		status, err := send(e)
		require.NoError(t, err)
		return status
	}
	unrouted := func() cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetSource("/e2e/broker")
		e.SetType("dev.auditfn.e2e.unrouted")
		return e
	}
	// The first event that the ingress takes, of a type no Trigger wants:
	// retried until the whole path is up, and it harms nothing.
	require.Eventually(t, func() bool { status, _ := send(unrouted()); return status == http.StatusAccepted },
		60*time.Second, 100*time.Millisecond, "the ingress does not take events")

	rows := func(id string) int64 { return db.Count(t, "audit.audit_events WHERE event_id = $1", id) }
	signed := func(ty string) auditevent.Event {
		ev := fixtures.Event(ty, "rr-broker", time.Now())
		ev.TraceParent = traceParent()
		keys.Sign(&ev)
		return ev
	}
	// The collector answers after commit and the fan-out only once it has:
	// by the ingress's 202 the row is in.
	var sent []auditevent.Event
	for _, ty := range auditevent.Types() {
		ev := signed(ty)
		sent = append(sent, ev)
		began := time.Now()
		require.Equal(t, http.StatusAccepted, post(auditevent.ToCloudEvent(ev)), ty)
		t.Logf("%s: ingress → row committed and 202 in %s", ty, time.Since(began).Round(100*time.Microsecond))
		require.EqualValues(t, 1, rows(ev.ID.String()), ty)
	}

	// And the same through the functions' emitter, which sends batches:
	// the ingress refuses them (a Broker takes single events), so the
	// emitter resends the events one by one and stays in single mode.
	emitfn := procs.StartIn(t, ns, procs.Binary(t, "./test/cmd/emitfn"), fmt.Sprintf("127.0.0.1:%d", ports[4]),
		map[string]string{"K_SINK": brokerURL, eventauth.Setting: keysFile})
	const perType = 3
	for _, ty := range auditevent.Types() {
		resp, err := ns.Client().Get(emitfn.URL() + "/emit?rr=rr-emitted&n=" + strconv.Itoa(perType) + "&type=" + ty)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	emitted := perType * len(auditevent.Types())
	require.Eventually(t, func() bool {
		return db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-emitted'") == int64(emitted)
	}, 60*time.Second, 10*time.Millisecond, "the emitter's events did not all land")
	// The emitter logs the switch after the last single send is accepted,
	// so just after the rows can be seen.
	require.Eventually(t, func() bool { return strings.Contains(emitfn.Output(), "switching to single mode") },
		5*time.Second, 10*time.Millisecond, emitfn.Output())

	// What only blockclear's Trigger takes (its filter has two attributes),
	// and what none does.
	update := func(kind string) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetSource("https://10.96.0.1:443")
		e.SetType("dev.knative.apiserver.resource.update")
		e.SetExtension("kind", kind)
		require.NoError(t, e.SetData(cloudevents.ApplicationJSON, map[string]any{"kind": kind}))
		return e
	}
	wfeUpdate := update("WorkflowExecution")
	for _, e := range []cloudevents.Event{wfeUpdate, update("RemediationWorkflow"), unrouted()} {
		require.Equal(t, http.StatusAccepted, post(e), e.Type())
	}

	require.Equal(t, []string{wfeUpdate.ID()}, blockclear.ids(), "blockclear gets the WorkflowExecution update, once")
	require.Empty(t, deadLetters.ids(), "no dead letters")
	require.EqualValues(t, len(sent)+emitted, db.Count(t, "audit.audit_events"), "the collector stored only the audit events")
	for _, ev := range sent {
		require.EqualValues(t, 1, db.Count(t, "audit.audit_events WHERE event_id = $1 AND event_type = $2 AND trace_parent = $3",
			ev.ID.String(), ev.Type, ev.TraceParent), ev.Type)
	}

	// The collector is down when an event comes: the filter's delivery
	// fails, the dispatcher retries it with the Trigger's delivery spec
	// (1 s, 2 s, 4 s … about 17 minutes), and the event lands once the
	// collector is back, once.
	col.Kill()
	failures := strings.Count(filter.Output(), "failed to send event")
	ev := signed(auditevent.TypeSelectionValidated)
	began := time.Now()
	accepted := make(chan int, 1)
	go func() {
		status, err := send(auditevent.ToCloudEvent(ev))
		if err != nil {
			t.Log(err)
		}
		accepted <- status
	}()
	require.Eventually(t, func() bool { return strings.Count(filter.Output(), "failed to send event") > failures },
		60*time.Second, 5*time.Millisecond, "the filter never tried the collector")
	procs.StartIn(t, ns, auditfn, col.Addr, colEnv)
	back := time.Since(began)
	require.Equal(t, http.StatusAccepted, <-accepted)
	require.EqualValues(t, 1, rows(ev.ID.String()))
	t.Logf("collector down at the send and ready %s later: ingress 202 (the row in) %s after the send",
		back.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	require.Empty(t, deadLetters.ids(), "no dead letters")
	require.EqualValues(t, len(sent)+emitted+1, db.Count(t, "audit.audit_events"))

	// The dead-letter sink is wired, so its silence above means something:
	// an unsigned event is refused (403, not retried) and goes there at once.
	forged := fixtures.Event(auditevent.TypeBlockCleared, "rr-forged", time.Now())
	require.Equal(t, http.StatusAccepted, post(auditevent.ToCloudEvent(forged)))
	require.Equal(t, []string{forged.ID.String()}, deadLetters.ids())
	require.Zero(t, rows(forged.ID.String()))
}
