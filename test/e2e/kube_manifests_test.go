package e2e

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"function/test/testenv"
)

// infraIn is the kustomization of infra/ as kubectl builds it, moved into
// the test's namespace, one document per object.
func infraIn(t *testing.T, k *testenv.Kube) []string {
	t.Helper()
	built := k.Admin().Must(t, "kustomize", filepath.Join(testenv.Root(t), "infra"))
	built = strings.ReplaceAll(built, "namespace: kubernaut\n", "namespace: "+k.Namespace+"\n")
	return strings.Split(built, "\n---\n")
}

// Every manifest of infra/ passes the real schemas: the API server's own
// and the CRDs of Knative Serving and Eventing, Gateway API and
// cert-manager, as `kubectl apply --dry-run=server` checks them.
func TestInfraPassesTheRealSchemas(t *testing.T) {
	k := testenv.NewKube(t)
	docs := infraIn(t, k)
	require.Greater(t, len(docs), 30, "the whole kustomization")
	out, err := k.Admin().RunInput([]byte(strings.Join(docs, "\n---\n")), "apply", "--dry-run=server", "-f", "-")
	require.NoError(t, err, out)
	for _, kind := range []string{"service.serving.knative.dev", "trigger.eventing.knative.dev", "apiserversource.sources.knative.dev",
		"pingsource.sources.knative.dev", "httproute.gateway.networking.k8s.io", "certificate.cert-manager.io",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io"} {
		assert.Contains(t, out, kind+"/", "a %s was checked", kind)
	}
}

// The check can fail: one deliberate fault in a Service, a Trigger, an
// HTTPRoute and a Certificate of infra/ is each refused by the server,
// naming the field.
func TestTheRealSchemasRefuseBrokenManifests(t *testing.T) {
	k := testenv.NewKube(t)
	docs := infraIn(t, k)
	first := func(kind string) map[string]any {
		for _, d := range docs {
			var o map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(d), &o))
			if o["kind"] == kind {
				return o
			}
		}
		t.Fatalf("no %s in infra/", kind)
		return nil
	}
	at := func(o map[string]any, path ...any) map[string]any {
		var cur any = o
		for _, p := range path {
			switch p := p.(type) {
			case string:
				cur = cur.(map[string]any)[p]
			case int:
				cur = cur.([]any)[p]
			}
		}
		return cur.(map[string]any)
	}
	cases := []struct {
		kind   string
		mutate func(o map[string]any)
		want   string
	}{
		{"Service", func(o map[string]any) { at(o, "spec", "template", "spec")["containerConcurrency"] = "many" }, "containerConcurrency"},
		{"Trigger", func(o map[string]any) { at(o, "spec")["broker"] = 5 }, "spec.broker"},
		{"HTTPRoute", func(o map[string]any) { at(o, "spec", "rules", 0, "backendRefs", 0)["port"] = 99999 }, "port"},
		{"Certificate", func(o map[string]any) { delete(at(o, "spec"), "secretName") }, "secretName"},
	}
	for _, c := range cases {
		o := first(c.kind)
		c.mutate(o)
		b, err := yaml.Marshal(o)
		require.NoError(t, err)
		_, err = k.Admin().RunInput(b, "apply", "--dry-run=server", "-f", "-")
		var ke *testenv.KubectlError
		require.True(t, errors.As(err, &ke), "%s: the server accepted a broken manifest", c.kind)
		assert.Contains(t, ke.Stderr, c.want, c.kind)
	}
}
