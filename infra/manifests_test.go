package infra_test

// These tests prove, without a cluster, that the manifests under infra/ are
// well formed, complete and consistent with the Go sources of truth:
// function.Names, shared/routes.Table, shared/auditevent.Types, shared/pgdb,
// infra/migrations and go.mod. Each check fails naming the file and document
// it is about.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"function"
	"function/archive"
	"function/functions/blockclear"
	"function/functions/collector"
	"function/functions/query"
	"function/infra/migrations"
	"function/shared/auditevent"
	"function/shared/config"
	"function/shared/discovery"
	"function/shared/emitter"
	"function/shared/eventauth"
	"function/shared/pgdb"
	"function/shared/routes"
	"function/shared/tlog"
)

const (
	namespace   = "kubernaut"
	image       = "registry.example.com/kubernaut/auditfn:latest"
	brokerName  = "auditfn"
	deadLetter  = "auditfn-deadletter"
	placeholder = "CHANGE-ME"
)

// webhookPath is where blockclear serves AdmissionReviews.
const webhookPath = blockclear.WebhookPath

// fnSpec is what a function needs from its Knative Service.
type fnSpec struct {
	emits bool     // emits audit events, so needs K_SINK from the SinkBinding
	pg    bool     // reads AUDITFN_PG_DSN
	s3    bool     // reads AUDITFN_S3_*
	lists []string // kubernaut.ai resources it lists from the API server
}

// specFunctions is SPEC §1's function table.
var specFunctions = map[string]fnSpec{
	"actions":     {emits: true, pg: true},
	"workflows":   {emits: true, pg: true},
	"workflow":    {emits: true, pg: true},
	"validate":    {emits: true, pg: true},
	"blockclear":  {emits: true},
	"collector":   {pg: true, s3: true},
	"query":       {emits: true, pg: true, s3: true},
	"catalogsync": {pg: true, lists: []string{"remediationworkflows", "actiontypes"}},
}

// knownSettings are the environment variables the functions read; setting
// any other on a Service is a typo or a leftover.
var knownSettings = map[string]bool{
	function.SettingFunction: true, "LISTEN_ADDRESS": true,
	config.PGDSN: true, config.S3Endpoint: true, config.S3AccessKey: true, config.S3SecretKey: true, config.S3Bucket: true,
	emitter.SettingMode: true, emitter.SettingBuffer: true, emitter.SettingBatch: true,
	collector.SettingMaxBatch: true, query.SettingAuth: true, query.SettingTokensFile: true, discovery.SettingAuth: true,
	archive.SettingSigningKey: true, archive.SettingHotDays: true, archive.SettingRetentionDays: true, archive.SettingLogOrigin: true,
	collector.SettingCheckpointEvery: true, tlog.SettingWitnessPolicy: true,
	eventauth.Setting: true,
}

// ---------------------------------------------------------------------------
// Loading

// object is one YAML document of a manifest file.
type object struct {
	file string // slash path relative to the tree root
	doc  int    // 1-based position in the file
	m    map[string]any
}

func (o object) String() string { return fmt.Sprintf("%s (document %d)", o.file, o.doc) }
func (o object) apiVersion() string {
	return str(o.m, "apiVersion")
}
func (o object) kind() string      { return str(o.m, "kind") }
func (o object) name() string      { return str(o.m, "metadata", "name") }
func (o object) namespace() string { return str(o.m, "metadata", "namespace") }
func (o object) group() string     { return group(o.apiVersion()) }

// docSeparator is a YAML document marker line: "---", optionally followed by
// a comment.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// loadFile parses a YAML file of one or more documents separated by "---".
// Documents holding only comments are skipped. Every error names the file
// (as rel) and the document; duplicate keys are errors.
func loadFile(abs, rel string) ([]object, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	var out []object
	for i, part := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): malformed YAML: %w", rel, i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // comments only
		}
		var m map[string]any
		if err := yaml.Unmarshal(j, &m); err != nil {
			return nil, fmt.Errorf("%s (document %d): not a mapping: %w", rel, i+1, err)
		}
		out = append(out, object{file: rel, doc: i + 1, m: m})
	}
	return out, nil
}

// loadTree parses every .yaml and .yml file under root, keyed by slash path
// relative to root. The first malformed file stops it, named in the error.
func loadTree(root string) (map[string][]object, error) {
	files := map[string][]object{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		objs, err := loadFile(p, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = objs
		return nil
	})
	return files, err
}

// kustomization is the part of kustomization.yaml these tests read. It is
// decoded strictly, so a misspelt field fails.
type kustomization struct {
	APIVersion         string   `json:"apiVersion"`
	Kind               string   `json:"kind"`
	Namespace          string   `json:"namespace"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
		Digest  string `json:"digest"`
	} `json:"images"`
}

// deployment is what kubectl apply -k infra/ creates, plus the Secret
// templates the operator creates first.
type deployment struct {
	kust      kustomization
	files     map[string][]object // every YAML file under infra/
	objects   []object            // the kustomization's resources
	secrets   []object            // secrets/*.yaml
	generated map[string]bool     // ConfigMaps from configMapGenerator
}

// deployDirs hold this deployment's manifests: every YAML file in them must
// be listed in kustomization.yaml. Other trees under infra/ (migrations/,
// catalog/, trino/, crd/, ...) belong to other parts of the project: they are
// parsed (they must be valid YAML) but not applied with the deployment.
var deployDirs = []string{"knative/", "eventing/", "rbac/", "webhook/", "route/", "setup/"}

func inDeployDirs(f string) bool {
	return slices.ContainsFunc(deployDirs, func(p string) bool { return strings.HasPrefix(f, p) })
}

func load(t *testing.T) *deployment {
	t.Helper()
	files, err := loadTree(".")
	if err != nil {
		t.Fatalf("loading infra/: %v", err)
	}
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatalf("infra/kustomization.yaml: %v", err)
	}
	d := &deployment{files: files, generated: map[string]bool{}}
	if err := yaml.UnmarshalStrict(raw, &d.kust); err != nil {
		t.Fatalf("infra/kustomization.yaml: %v", err)
	}
	if len(d.kust.Resources) == 0 {
		t.Fatalf("infra/kustomization.yaml lists no resources")
	}
	for _, r := range d.kust.Resources {
		objs, ok := files[r]
		if !ok {
			t.Fatalf("infra/kustomization.yaml lists %s, which is not a YAML file under infra/", r)
		}
		d.objects = append(d.objects, objs...)
	}
	for f, objs := range files {
		if strings.HasPrefix(f, "secrets/") {
			d.secrets = append(d.secrets, objs...)
		}
	}
	for _, g := range d.kust.ConfigMapGenerator {
		d.generated[g.Name] = true
	}
	return d
}

func (d *deployment) all(kind string) []object {
	var out []object
	for _, o := range d.objects {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (d *deployment) find(apiGroup, kind, name string) (object, bool) {
	for _, o := range d.objects {
		if o.group() == apiGroup && o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return object{}, false
}

func (d *deployment) ksvc(name string) (object, bool) {
	return d.find("serving.knative.dev", "Service", name)
}

// ---------------------------------------------------------------------------
// Generic access to decoded YAML

func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func list(v any, keys ...string) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

func strs(v any, keys ...string) []string {
	var out []string
	for _, e := range list(v, keys...) {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func group(apiVersion string) string {
	if g, _, ok := strings.Cut(apiVersion, "/"); ok {
		return g
	}
	return ""
}

// envOf returns a container's env entries by name.
func envOf(container any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range list(container, "env") {
		m, _ := e.(map[string]any)
		out[str(m, "name")] = m
	}
	return out
}

func containers(podSpec any) []any {
	return append(list(podSpec, "initContainers"), list(podSpec, "containers")...)
}

// ---------------------------------------------------------------------------
// Loader

func TestLoaderNamesMalformedFile(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.yaml", "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n")
	if files, err := loadTree(dir); err != nil {
		t.Fatalf("valid tree: %v", err)
	} else if got := len(files["good.yaml"]); got != 1 {
		t.Fatalf("good.yaml: %d objects, want 1 (comment-only documents skipped)", got)
	}

	cases := []struct{ file, body, want string }{
		{"sub/bad.yaml", "apiVersion: v1\nkind: ConfigMap\n---\nkind: [unclosed\n", "sub/bad.yaml (document 2)"},
		{"tabs.yml", "a:\n\tb: 1\n", "tabs.yml (document 1)"},
		{"dup.yaml", "kind: ConfigMap\nkind: Secret\n", "dup.yaml (document 1)"},
		{"list.yaml", "- a\n- b\n", "list.yaml (document 1)"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			sub := t.TempDir()
			p := filepath.Join(sub, filepath.FromSlash(c.file))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadTree(sub)
			if err == nil {
				t.Fatalf("loadTree accepted %s:\n%s", c.file, c.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func TestEveryYAMLFileParses(t *testing.T) {
	files, err := loadTree(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d YAML files under infra/; is the test running in infra/?", len(files))
	}
}

// ---------------------------------------------------------------------------
// Kustomization

func TestKustomization(t *testing.T) {
	d := load(t)
	k := d.kust
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion/kind = %s/%s", k.APIVersion, k.Kind)
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization.yaml: namespace %q, want %q", k.Namespace, namespace)
	}

	// Every manifest of this deployment is listed; nothing else is.
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if listed[r] {
			t.Errorf("kustomization.yaml lists %s twice", r)
		}
		listed[r] = true
		if !inDeployDirs(r) {
			t.Errorf("kustomization.yaml lists %s, outside the deployment's directories %v", r, deployDirs)
		}
	}
	for f := range d.files {
		if inDeployDirs(f) && !listed[f] {
			t.Errorf("%s is not listed in kustomization.yaml resources", f)
		}
	}

	// Every object is well formed and in the deployment's namespace.
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "MutatingWebhookConfiguration": true}
	seen := map[string]object{}
	for _, o := range d.objects {
		if o.apiVersion() == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required", o)
			continue
		}
		if clusterScoped[o.kind()] {
			if o.namespace() != "" {
				t.Errorf("%s: cluster-scoped %s has a namespace", o, o.kind())
			}
		} else if o.namespace() != namespace {
			t.Errorf("%s: %s %s in namespace %q, want %q", o, o.kind(), o.name(), o.namespace(), namespace)
		}
		key := o.group() + "/" + o.kind() + "/" + o.name()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: %s %s is also defined in %s", o, o.kind(), o.name(), prev)
		}
		seen[key] = o
	}

	// The migrations ConfigMap carries exactly the migrations the binaries embed.
	embedded, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(embedded) == 0 {
		t.Fatalf("infra/migrations embeds no *.sql (%v)", err)
	}
	var generated []string
	for _, g := range k.ConfigMapGenerator {
		if g.Name != "auditfn-migrations" {
			continue
		}
		for _, f := range g.Files {
			if path.Dir(f) != "migrations" {
				t.Errorf("kustomization.yaml: auditfn-migrations file %s is not in migrations/", f)
			}
			generated = append(generated, path.Base(f))
		}
	}
	sort.Strings(generated)
	if !slices.Equal(generated, embedded) {
		t.Errorf("kustomization.yaml configMapGenerator auditfn-migrations lists %v; infra/migrations holds %v", generated, embedded)
	}

	// The images entry rewrites the one image every function uses.
	repo, _, _ := strings.Cut(image, ":")
	if len(k.Images) != 1 || k.Images[0].Name != repo || k.Images[0].NewName == "" || (k.Images[0].NewTag == "" && k.Images[0].Digest == "") {
		t.Errorf("kustomization.yaml images: want one entry for %s with newName and newTag or digest, got %+v", repo, k.Images)
	}
}

// ---------------------------------------------------------------------------
// Knative Services

func TestKnativeServices(t *testing.T) {
	d := load(t)

	// The functions that must be deployed: SPEC's table, every function the
	// route table and the dispatcher know.
	want := map[string]bool{}
	for fn := range specFunctions {
		want[fn] = true
	}
	for _, r := range routes.Table {
		want[r.Function] = true
	}
	for _, fn := range function.Names() {
		want[fn] = true
	}
	for fn := range want {
		if _, ok := specFunctions[fn]; !ok {
			t.Errorf("function %q (routes.Table or function.Names) is not in SPEC's list; add it to specFunctions and infra/knative", fn)
		}
	}

	ksvcs := d.all("Service")
	byName := map[string]object{}
	for _, o := range ksvcs {
		if o.group() == "serving.knative.dev" {
			byName[o.name()] = o
		}
	}
	for fn := range want {
		if _, ok := byName["auditfn-"+fn]; !ok {
			t.Errorf("no Knative Service auditfn-%s for function %s", fn, fn)
		}
	}
	if _, ok := byName[deadLetter]; !ok {
		t.Errorf("no Knative Service %s (the dead-letter sink)", deadLetter)
	}

	for name, o := range byName {
		fn := strings.TrimPrefix(name, "auditfn-")
		wantFn := fn
		if name == deadLetter {
			wantFn = "collector"
		} else if _, ok := specFunctions[fn]; !ok {
			t.Errorf("%s: Knative Service %s serves no known function", o, name)
			continue
		}
		checkKsvc(t, o, wantFn, name == deadLetter)
	}
}

func checkKsvc(t *testing.T, o object, fn string, deadletter bool) {
	t.Helper()
	spec := specFunctions[fn]
	emits := spec.emits && !deadletter
	labels, _ := get(o.m, "metadata", "labels").(map[string]any)
	if got := labels["auditfn.io/emits"]; emits && got != "true" {
		t.Errorf("%s: %s emits events but is not labelled auditfn.io/emits: \"true\" (got %v)", o, o.name(), got)
	} else if !emits && got == "true" {
		t.Errorf("%s: %s does not emit events but is labelled auditfn.io/emits: \"true\"", o, o.name())
	}
	if got := labels["networking.knative.dev/visibility"]; got != "cluster-local" {
		t.Errorf("%s: %s is not cluster-local (networking.knative.dev/visibility: %v)", o, o.name(), got)
	}

	tmpl := get(o.m, "spec", "template")
	ann, _ := get(tmpl, "metadata", "annotations").(map[string]any)
	if got := ann["autoscaling.knative.dev/min-scale"]; got != "0" {
		t.Errorf("%s: spec.template min-scale = %#v, want \"0\" (scale to zero)", o, got)
	}
	for _, k := range []string{"autoscaling.knative.dev/max-scale", "autoscaling.knative.dev/target"} {
		if v, _ := ann[k].(string); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(v) {
			t.Errorf("%s: spec.template %s = %#v, want a positive integer string", o, k, ann[k])
		}
	}
	if get(o.m, "metadata", "annotations", "autoscaling.knative.dev/min-scale") != nil {
		t.Errorf("%s: autoscaling annotations belong on spec.template.metadata, not on the Service", o)
	}

	cs := list(tmpl, "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s: %d containers, want 1", o, len(cs))
	}
	c := cs[0]
	if got := str(c, "image"); got != image {
		t.Errorf("%s: image %q, want %q (one image for all functions)", o, got, image)
	}
	env := envOf(c)
	for k := range env {
		if !knownSettings[k] {
			t.Errorf("%s: env %s is no setting a function reads", o, k)
		}
	}
	wantValue := map[string]string{function.SettingFunction: fn, "LISTEN_ADDRESS": "0.0.0.0:8080"}
	if emits {
		wantValue[emitter.SettingMode] = "single"
	} else if _, ok := env[emitter.SettingMode]; ok {
		t.Errorf("%s: %s set on a function that does not emit", o, emitter.SettingMode)
	}
	for k, v := range wantValue {
		if got := str(env[k], "value"); got != v {
			t.Errorf("%s: env %s = %q, want %q", o, k, got, v)
		}
	}
	s3 := []string{config.S3Endpoint, config.S3AccessKey, config.S3SecretKey, config.S3Bucket}
	fromSecret := map[string]string{}
	if spec.pg {
		fromSecret[config.PGDSN] = "auditfn-postgres"
	} else if _, ok := env[config.PGDSN]; ok {
		t.Errorf("%s: %s given to a function that does not use PostgreSQL", o, config.PGDSN)
	}
	for _, k := range s3 {
		if spec.s3 && !deadletter {
			fromSecret[k] = "auditfn-s3"
		} else if _, ok := env[k]; ok {
			t.Errorf("%s: %s given to a function that does not use the archive", o, k)
		}
	}
	for k, secret := range fromSecret {
		ref := get(env[k], "valueFrom", "secretKeyRef")
		if str(ref, "name") != secret || str(ref, "key") == "" {
			t.Errorf("%s: env %s must come from a key of Secret %s, got %v", o, k, secret, env[k])
		}
	}
	if deadletter {
		if str(env[config.PGDSN], "valueFrom", "secretKeyRef", "key") == "dsn" {
			t.Errorf("%s: the dead-letter collector must use its own DSN key, not the collector's", o)
		}
		if _, ok := env[archive.SettingSigningKey]; ok {
			t.Errorf("%s: the dead-letter collector must not compact into the archive", o)
		}
	} else if fn == "collector" {
		if _, ok := env[archive.SettingSigningKey]; !ok {
			t.Errorf("%s: the collector needs %s to compact into the archive", o, archive.SettingSigningKey)
		}
	}
	if _, ok := env[config.Sink]; ok {
		t.Errorf("%s: %s is injected by the SinkBinding; do not set it", o, config.Sink)
	}
	checkFileSettings(t, o, tmpl, c)

	if got := str(c, "readinessProbe", "httpGet", "path"); got != "/health/readiness" {
		t.Errorf("%s: readinessProbe path %q, want func-go's /health/readiness", o, got)
	}
	if got := str(c, "livenessProbe", "httpGet", "path"); got != "/health/liveness" {
		t.Errorf("%s: livenessProbe path %q, want func-go's /health/liveness", o, got)
	}
	for _, k := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			if get(c, "resources", k, r) == nil {
				t.Errorf("%s: resources.%s.%s missing", o, k, r)
			}
		}
	}
	if str(get(tmpl, "spec"), "serviceAccountName") == "" {
		t.Errorf("%s: no serviceAccountName (the default one would be used)", o)
	}
}

// checkFileSettings: a setting whose value is an absolute path names a file
// in a Secret volume the container mounts, and that Secret's template has the
// key. Checked against the templates in TestSecretsMountedAsFilesExist.
func checkFileSettings(t *testing.T, o object, tmpl, container any) {
	t.Helper()
	for name, e := range envOf(container) {
		p := str(e, "value")
		if !strings.HasPrefix(p, "/") {
			continue
		}
		if _, _, ok := mountedSecretFile(tmpl, container, p); !ok {
			t.Errorf("%s: %s=%s is not a file of a Secret volume the container mounts", o, name, p)
		}
	}
}

// mountedSecretFile resolves an absolute path to the Secret volume mounted
// over it and the key (file name) within it.
func mountedSecretFile(tmpl, container any, p string) (secret, key string, ok bool) {
	for _, m := range list(container, "volumeMounts") {
		dir := str(m, "mountPath")
		if path.Dir(p) != path.Clean(dir) {
			continue
		}
		for _, v := range list(tmpl, "spec", "volumes") {
			if str(v, "name") == str(m, "name") && str(v, "secret", "secretName") != "" {
				return str(v, "secret", "secretName"), path.Base(p), true
			}
		}
	}
	return "", "", false
}

// Every function that emits audit events signs them, and the collector
// checks them, with the one key Secret; the dead-letter collector keeps
// whatever the Broker could not deliver, refused forgeries included, so it
// has no keys.
func TestEmittersAndCollectorShareTheEventKeys(t *testing.T) {
	d := load(t)
	var n int
	for _, o := range d.all("Service") {
		if o.group() != "serving.knative.dev" {
			continue
		}
		name := str(get(o.m, "metadata"), "name")
		wants := str(get(o.m, "metadata", "labels"), "auditfn.io/emits") == "true" || name == "auditfn-collector"
		tmpl := get(o.m, "spec", "template")
		for _, c := range list(tmpl, "spec", "containers") {
			e, set := envOf(c)[eventauth.Setting]
			switch {
			case wants && !set:
				t.Errorf("%s: %s must sign or check audit events: %s is not set", o, name, eventauth.Setting)
			case !wants && set:
				t.Errorf("%s: %s sets %s but neither emits nor collects", o, name, eventauth.Setting)
			case set:
				n++
				if secret, _, ok := mountedSecretFile(tmpl, c, str(e, "value")); !ok || secret != "auditfn-event-keys" {
					t.Errorf("%s: %s must be a file of Secret auditfn-event-keys, got %q", o, eventauth.Setting, secret)
				}
			}
		}
	}
	if n < 2 {
		t.Errorf("%d functions read the event keys; want the emitters and the collector", n)
	}
}

func TestSecretsMountedAsFilesExist(t *testing.T) {
	d := load(t)
	idx := index(d.objects, d.secrets, d.generated)
	var n int
	for _, o := range d.all("Service") {
		if o.group() != "serving.knative.dev" {
			continue
		}
		tmpl := get(o.m, "spec", "template")
		for _, c := range list(tmpl, "spec", "containers") {
			for name, e := range envOf(c) {
				secret, key, ok := mountedSecretFile(tmpl, c, str(e, "value"))
				if !ok {
					continue
				}
				n++
				if keys, known := idx.keys["Secret/"+secret]; !known || !keys[key] {
					t.Errorf("%s: %s reads %s from Secret %s, whose template (secrets/) has no key %q", o, name, str(e, "value"), secret, key)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no setting reads a file from a Secret volume; the collector's signing key should")
	}
}

// ---------------------------------------------------------------------------
// Eventing

func TestTriggersRouteEveryAuditTypeToCollector(t *testing.T) {
	d := load(t)
	types := auditevent.Types()
	if len(types) == 0 {
		t.Fatal("auditevent.Types() is empty")
	}
	known := map[string]bool{}
	for _, typ := range types {
		known[typ] = true
	}
	got := map[string][]object{}
	for _, o := range d.all("Trigger") {
		typ := str(o.m, "spec", "filter", "attributes", "type")
		if typ == "" {
			t.Errorf("%s: Trigger %s has no filter.attributes.type", o, o.name())
			continue
		}
		if get(o.m, "spec", "filters") != nil {
			t.Errorf("%s: Trigger %s sets spec.filters, which overrides spec.filter", o, o.name())
		}
		if strings.HasPrefix(typ, "dev.knative.") {
			continue
		}
		if !known[typ] {
			t.Errorf("%s: Trigger %s routes type %q, which auditevent.Types() does not know", o, o.name(), typ)
		}
		got[typ] = append(got[typ], o)
	}
	for _, typ := range types {
		ts := got[typ]
		if len(ts) != 1 {
			t.Errorf("event type %s: %d Triggers, want exactly 1", typ, len(ts))
			continue
		}
		o := ts[0]
		if b := str(o.m, "spec", "broker"); b != brokerName {
			t.Errorf("%s: Trigger for %s is on broker %q, want %q", o, typ, b, brokerName)
		}
		if attrs, _ := get(o.m, "spec", "filter", "attributes").(map[string]any); len(attrs) != 1 {
			t.Errorf("%s: Trigger for %s filters on %v; only type is wanted", o, typ, attrs)
		}
		ref := get(o.m, "spec", "subscriber", "ref")
		if group(str(ref, "apiVersion")) != "serving.knative.dev" || str(ref, "kind") != "Service" || str(ref, "name") != "auditfn-collector" {
			t.Errorf("%s: Trigger for %s delivers to %v, want the Knative Service auditfn-collector", o, typ, ref)
		}
	}
}

func TestWorkflowExecutionTrigger(t *testing.T) {
	d := load(t)
	var found []object
	for _, o := range d.all("Trigger") {
		if str(o.m, "spec", "filter", "attributes", "type") == blockclear.ResourceUpdate {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Triggers for %s, want 1", len(found), blockclear.ResourceUpdate)
	}
	o := found[0]
	if k := str(o.m, "spec", "filter", "attributes", "kind"); k != "WorkflowExecution" {
		t.Errorf("%s: filter kind %q, want WorkflowExecution", o, k)
	}
	if b := str(o.m, "spec", "broker"); b != brokerName {
		t.Errorf("%s: broker %q, want %q", o, b, brokerName)
	}
	if n := str(o.m, "spec", "subscriber", "ref", "name"); n != "auditfn-blockclear" {
		t.Errorf("%s: subscriber %q, want auditfn-blockclear", o, n)
	}
}

// deliveryKeys are DeliverySpec's fields (knative.dev/eventing
// pkg/apis/duck/v1/delivery_types.go); anything else is a typo.
var deliveryKeys = map[string]bool{"retry": true, "backoffPolicy": true, "backoffDelay": true, "deadLetterSink": true,
	"timeout": true, "retryAfterMax": true, "format": true}

var isoDuration = regexp.MustCompile(`^P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$`)

func TestDeliveryHasRetriesAndDeadLetterSink(t *testing.T) {
	d := load(t)
	brokers := d.all("Broker")
	if len(brokers) != 1 || brokers[0].name() != brokerName {
		t.Fatalf("want exactly one Broker %q, got %d", brokerName, len(brokers))
	}
	if c := str(brokers[0].m, "metadata", "annotations", "eventing.knative.dev/broker.class"); c != "MTChannelBasedBroker" {
		t.Errorf("%s: broker class %q, want MTChannelBasedBroker", brokers[0], c)
	}
	subjects := append(brokers, d.all("Trigger")...)
	for _, o := range subjects {
		del, ok := get(o.m, "spec", "delivery").(map[string]any)
		if !ok {
			t.Errorf("%s: %s %s has no spec.delivery", o, o.kind(), o.name())
			continue
		}
		for k := range del {
			if !deliveryKeys[k] {
				t.Errorf("%s: unknown delivery field %q", o, k)
			}
		}
		if r, _ := del["retry"].(float64); r < 1 || r != float64(int(r)) {
			t.Errorf("%s: delivery.retry = %v, want a positive integer", o, del["retry"])
		}
		if p := del["backoffPolicy"]; p != "exponential" && p != "linear" {
			t.Errorf("%s: delivery.backoffPolicy = %v, want exponential or linear", o, p)
		}
		for _, k := range []string{"backoffDelay", "timeout"} {
			if v, ok := del[k]; ok {
				s, _ := v.(string)
				if !isoDuration.MatchString(s) || s == "P" || strings.HasSuffix(s, "T") {
					t.Errorf("%s: delivery.%s = %v, want an ISO-8601 duration such as PT0.5S", o, k, v)
				}
			}
		}
		if _, ok := del["backoffDelay"]; !ok {
			t.Errorf("%s: delivery.backoffDelay missing", o)
		}
		ref := get(del, "deadLetterSink", "ref")
		if ref == nil {
			t.Errorf("%s: delivery.deadLetterSink.ref missing", o)
			continue
		}
		if _, ok := d.find(group(str(ref, "apiVersion")), str(ref, "kind"), str(ref, "name")); !ok {
			t.Errorf("%s: deadLetterSink %v is not defined in the manifests", o, ref)
		}
		if str(ref, "name") == str(o.m, "spec", "subscriber", "ref", "name") {
			t.Errorf("%s: the dead-letter sink is the subscriber itself", o)
		}
	}
}

func TestSources(t *testing.T) {
	d := load(t)

	// Three hourly ticks: compaction in the collector, the block-clearance
	// reconcile in blockclear, the catalog resync in catalogsync.
	pings := d.all("PingSource")
	if len(pings) != 3 {
		t.Fatalf("%d PingSources, want 3", len(pings))
	}
	want := map[string]string{"auditfn-collector": `{"task":"compact"}`, "auditfn-blockclear": `{"task":"reconcile"}`,
		"auditfn-catalogsync": `{"task":"resync"}`}
	for _, p := range pings {
		fields := strings.Fields(str(p.m, "spec", "schedule"))
		if len(fields) != 5 || !regexp.MustCompile(`^[0-5]?[0-9]$`).MatchString(fields[0]) || strings.Join(fields[1:], " ") != "* * * *" {
			t.Errorf("%s: schedule %q is not hourly (\"M * * * *\")", p, str(p.m, "spec", "schedule"))
		}
		sink := str(p.m, "spec", "sink", "ref", "name")
		data, ok := want[sink]
		if !ok {
			t.Errorf("%s: sink %q, want one of auditfn-collector, auditfn-blockclear, auditfn-catalogsync", p, sink)
			continue
		}
		delete(want, sink)
		if got := str(p.m, "spec", "data"); got != data {
			t.Errorf("%s: data %q, want %s", p, got, data)
		}
	}
	if len(want) > 0 {
		t.Errorf("no PingSource ticks %v", want)
	}

	bindings := d.all("SinkBinding")
	if len(bindings) != 1 {
		t.Fatalf("%d SinkBindings, want 1", len(bindings))
	}
	b := bindings[0]
	if ref := get(b.m, "spec", "sink", "ref"); str(ref, "kind") != "Broker" || str(ref, "name") != brokerName {
		t.Errorf("%s: sink %v, want Broker %s", b, ref, brokerName)
	}
	subj := get(b.m, "spec", "subject")
	if group(str(subj, "apiVersion")) != "serving.knative.dev" || str(subj, "kind") != "Service" {
		t.Errorf("%s: subject %v, want Knative Services", b, subj)
	}
	sel, _ := get(subj, "selector", "matchLabels").(map[string]any)
	if len(sel) == 0 || get(subj, "selector", "matchExpressions") != nil {
		t.Fatalf("%s: subject must select by matchLabels only, got %v", b, get(subj, "selector"))
	}
	if sel["auditfn.io/emits"] != "true" {
		t.Errorf("%s: subject selects %v, want auditfn.io/emits: \"true\"", b, sel)
	}
	// The selector binds exactly the emitting functions.
	var bound, emitting []string
	for _, o := range d.all("Service") {
		if o.group() != "serving.knative.dev" {
			continue
		}
		labels, _ := get(o.m, "metadata", "labels").(map[string]any)
		match := true
		for k, v := range sel {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			bound = append(bound, o.name())
		}
	}
	for fn, s := range specFunctions {
		if s.emits {
			emitting = append(emitting, "auditfn-"+fn)
		}
	}
	sort.Strings(bound)
	sort.Strings(emitting)
	if !slices.Equal(bound, emitting) {
		t.Errorf("%s: binds %v, want the emitting functions %v", b, bound, emitting)
	}

	// Two ApiServerSources: WorkflowExecutions into the Broker (blockclear's
	// catch-up), the catalog's kinds straight to catalogsync.
	srcs := map[string]object{}
	for _, s := range d.all("ApiServerSource") {
		srcs[s.name()] = s
	}
	if len(srcs) != 2 {
		t.Fatalf("%d ApiServerSources, want 2", len(srcs))
	}
	for _, want := range []struct {
		name      string
		kinds     []string
		resources []string
		sinkKind  string
		sinkName  string
	}{
		{"auditfn-workflowexecutions", []string{"WorkflowExecution"}, []string{"workflowexecutions"}, "Broker", brokerName},
		{"auditfn-catalog", []string{"RemediationWorkflow", "ActionType"}, []string{"remediationworkflows", "actiontypes"}, "Service", "auditfn-catalogsync"},
	} {
		s, ok := srcs[want.name]
		if !ok {
			t.Errorf("no ApiServerSource %s", want.name)
			continue
		}
		if m := str(s.m, "spec", "mode"); m != "Resource" {
			t.Errorf("%s: mode %q, want Resource (the full object)", s, m)
		}
		var kinds []string
		for _, r := range list(s.m, "spec", "resources") {
			if str(r, "apiVersion") != "kubernaut.ai/v1alpha1" {
				t.Errorf("%s: resource %v, want kubernaut.ai/v1alpha1", s, r)
			}
			kinds = append(kinds, str(r, "kind"))
		}
		if !slices.Equal(kinds, want.kinds) {
			t.Errorf("%s: kinds %v, want %v", s, kinds, want.kinds)
		}
		if ref := get(s.m, "spec", "sink", "ref"); str(ref, "kind") != want.sinkKind || str(ref, "name") != want.sinkName {
			t.Errorf("%s: sink %v, want %s %s", s, ref, want.sinkKind, want.sinkName)
		}
		sa := str(s.m, "spec", "serviceAccountName")
		if sa == "" || sa == "default" {
			t.Errorf("%s: needs its own serviceAccountName", s)
			continue
		}
		for _, resource := range want.resources {
			if !d.grants(sa, "kubernaut.ai", resource, "get", "list", "watch") {
				t.Errorf("%s: ServiceAccount %s is not granted get, list and watch on %s.kubernaut.ai by a Role in the manifests", s, sa, resource)
			}
		}
	}
}

// grants reports whether a RoleBinding in the manifests binds serviceAccount
// to a Role allowing all verbs on group/resource.
func (d *deployment) grants(serviceAccount, apiGroup, resource string, verbs ...string) bool {
	for _, rb := range d.all("RoleBinding") {
		bound := false
		for _, s := range list(rb.m, "subjects") {
			if str(s, "kind") == "ServiceAccount" && str(s, "name") == serviceAccount {
				bound = true
			}
		}
		if !bound || str(rb.m, "roleRef", "kind") != "Role" {
			continue
		}
		role, ok := d.find("rbac.authorization.k8s.io", "Role", str(rb.m, "roleRef", "name"))
		if ok && allows(role, apiGroup, resource, verbs...) {
			return true
		}
	}
	return false
}

// allows reports whether a (Cluster)Role's rules allow every verb on resource.
func allows(role object, apiGroup, resource string, verbs ...string) bool {
	have := map[string]bool{}
	for _, r := range list(role.m, "rules") {
		if slices.Contains(strs(r, "apiGroups"), apiGroup) && slices.Contains(strs(r, "resources"), resource) {
			for _, v := range strs(r, "verbs") {
				have[v] = true
			}
		}
	}
	for _, v := range verbs {
		if !have[v] {
			return false
		}
	}
	return true
}

func TestOperatorClusterRole(t *testing.T) {
	d := load(t)
	var ok bool
	for _, r := range d.all("ClusterRole") {
		if allows(r, "kubernaut.ai", "workflowexecutions/status", "get", "update", "patch") &&
			allows(r, "kubernaut.ai", "workflowexecutions", "get", "list") {
			ok = true
			if allows(r, "kubernaut.ai", "workflowexecutions", "delete") {
				t.Errorf("%s: block clearers must not delete WorkflowExecutions", r)
			}
		}
	}
	if !ok {
		t.Error("no ClusterRole grants get/update/patch on workflowexecutions/status and get/list on workflowexecutions")
	}
}

// TestServiceAccounts: only the query function, which asks the API server
// to authenticate auditors, and blockclear, which lists WorkflowExecutions to
// reconcile, get an API token. The query function may create TokenReviews
// and SubjectAccessReviews, and a ClusterRole lets auditors read the trail;
// blockclear may get and list WorkflowExecutions.
func TestServiceAccounts(t *testing.T) {
	d := load(t)
	for _, o := range d.all("Service") {
		if o.group() != "serving.knative.dev" {
			continue
		}
		saName := str(o.m, "spec", "template", "spec", "serviceAccountName")
		sa, ok := d.find("", "ServiceAccount", saName)
		if !ok {
			continue // TestNoDanglingReferences reports it
		}
		c := list(o.m, "spec", "template", "spec", "containers")[0]
		kubeAuth := str(envOf(c)[query.SettingAuth], "value") == "kubernetes"
		reviewsCallers := str(envOf(c)[discovery.SettingAuth], "value") == "kubernetes"
		fn := str(envOf(c)["AUDITFN_FUNCTION"], "value")
		reconciles := fn == "blockclear" || len(specFunctions[fn].lists) > 0
		token := get(sa.m, "automountServiceAccountToken") != false
		switch {
		case (kubeAuth || reviewsCallers || reconciles) && !token:
			t.Errorf("%s: calls the API server, but ServiceAccount %s mounts no token", o, saName)
		case !kubeAuth && !reviewsCallers && !reconciles && token:
			t.Errorf("%s: runs as ServiceAccount %s, which mounts an API token it does not need", o, saName)
		}
		if fn == "blockclear" && !d.grants(saName, "kubernaut.ai", "workflowexecutions", "get", "list") {
			t.Errorf("%s: ServiceAccount %s may not list workflowexecutions.kubernaut.ai, which the reconcile does", o, saName)
		}
		for _, resource := range specFunctions[fn].lists {
			if !d.grants(saName, "kubernaut.ai", resource, "get", "list") {
				t.Errorf("%s: ServiceAccount %s may not list %s.kubernaut.ai, which the resync does", o, saName, resource)
			}
		}
		if reviewsCallers && !d.clusterGrants(saName, "authentication.k8s.io", "tokenreviews", "create") {
			t.Errorf("%s: ServiceAccount %s may not create tokenreviews", o, saName)
		}
		if !kubeAuth {
			continue
		}
		if !d.clusterGrants(saName, "authentication.k8s.io", "tokenreviews", "create") ||
			!d.clusterGrants(saName, "authorization.k8s.io", "subjectaccessreviews", "create") {
			t.Errorf("%s: ServiceAccount %s may not create tokenreviews and subjectaccessreviews", o, saName)
		}
	}
	for _, fn := range []string{"actions", "workflows", "workflow", "validate"} {
		if s, ok := d.ksvc("auditfn-" + fn); !ok || str(envOf(list(s.m, "spec", "template", "spec", "containers")[0])[discovery.SettingAuth], "value") != "kubernetes" {
			t.Errorf("auditfn-%s must authenticate its callers with the API server (%s=kubernetes)", fn, discovery.SettingAuth)
		}
	}
	if q, ok := d.ksvc("auditfn-query"); !ok || str(envOf(list(q.m, "spec", "template", "spec", "containers")[0])[query.SettingAuth], "value") != "kubernetes" {
		t.Errorf("auditfn-query must authenticate auditors with the API server (%s=kubernetes)", query.SettingAuth)
	}
	// What the query function's SubjectAccessReviews ask for: get to read,
	// create and delete on the legalhold subresource for legal holds.
	hold := query.AccessResource + "/" + query.HoldSubresource
	for _, want := range []struct{ resource, verb string }{
		{query.AccessResource, "get"}, {hold, "create"}, {hold, "delete"},
	} {
		var granted bool
		for _, r := range d.all("ClusterRole") {
			for _, rule := range list(r.m, "rules") {
				if slices.Contains(strs(rule, "apiGroups"), query.AccessGroup) && slices.Contains(strs(rule, "resources"), want.resource) &&
					slices.Contains(strs(rule, "verbs"), want.verb) {
					granted = true
				}
			}
		}
		if !granted {
			t.Errorf("no ClusterRole grants %s on %s.%s, which the query function's SubjectAccessReview asks for", want.verb, want.resource, query.AccessGroup)
		}
	}
}

// clusterGrants reports whether a ClusterRoleBinding binds serviceAccount to
// a ClusterRole allowing all verbs on group/resource.
func (d *deployment) clusterGrants(serviceAccount, apiGroup, resource string, verbs ...string) bool {
	for _, rb := range d.all("ClusterRoleBinding") {
		bound := false
		for _, s := range list(rb.m, "subjects") {
			if str(s, "kind") == "ServiceAccount" && str(s, "name") == serviceAccount && str(s, "namespace") == namespace {
				bound = true
			}
		}
		if !bound || str(rb.m, "roleRef", "kind") != "ClusterRole" {
			continue
		}
		role, ok := d.find("rbac.authorization.k8s.io", "ClusterRole", str(rb.m, "roleRef", "name"))
		if ok && allows(role, apiGroup, resource, verbs...) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// HTTP route

// routeRule is one HTTPRoute rule as routes.Table would write it.
type routeRule struct {
	routes.Rule
	host string // the URLRewrite hostname
}

func httpRouteRules(t *testing.T, d *deployment) (object, []routeRule) {
	t.Helper()
	hrs := d.all("HTTPRoute")
	if len(hrs) != 1 {
		t.Fatalf("%d HTTPRoutes, want 1", len(hrs))
	}
	o := hrs[0]
	if o.apiVersion() != "gateway.networking.k8s.io/v1" {
		t.Errorf("%s: apiVersion %s, want gateway.networking.k8s.io/v1", o, o.apiVersion())
	}
	var out []routeRule
	for i, r := range list(o.m, "spec", "rules") {
		matches := list(r, "matches")
		backends := list(r, "backendRefs")
		if len(matches) != 1 || len(backends) != 1 {
			t.Fatalf("%s: rule %d has %d matches and %d backendRefs, want 1 and 1", o, i, len(matches), len(backends))
		}
		be := backends[0]
		if k := str(be, "kind"); k != "" && k != "Service" {
			t.Errorf("%s: rule %d backend kind %q, want Service", o, i, k)
		}
		if g := str(be, "group"); g != "" {
			t.Errorf("%s: rule %d backend group %q, want the core group", o, i, g)
		}
		if p, _ := get(be, "port").(float64); p != 80 {
			t.Errorf("%s: rule %d backend port %v, want 80 (a Knative Service's)", o, i, get(be, "port"))
		}
		var host string
		for _, f := range list(r, "filters") {
			if str(f, "type") == "URLRewrite" {
				host = str(f, "urlRewrite", "hostname")
			}
		}
		name := str(be, "name")
		out = append(out, routeRule{
			Rule: routes.Rule{Kind: str(matches[0], "path", "type"), Path: str(matches[0], "path", "value"),
				Function: strings.TrimPrefix(name, "auditfn-")},
			host: host,
		})
		if !strings.HasPrefix(name, "auditfn-") {
			t.Errorf("%s: rule %d backend %q is not an auditfn-<function> Service", o, i, name)
		}
	}
	return o, out
}

// publicRules are the rules of routes.Table the cluster's route carries.
func publicRules() []routes.Rule {
	var out []routes.Rule
	for _, r := range routes.Table {
		if !r.Internal {
			out = append(out, r)
		}
	}
	return out
}

func TestHTTPRouteMatchesRouteTable(t *testing.T) {
	d := load(t)
	o, rules := httpRouteRules(t, d)
	public := publicRules()
	if len(rules) != len(public) {
		t.Errorf("%s: %d rules, routes.Table has %d public ones", o, len(rules), len(public))
	}
	for i := 0; i < max(len(rules), len(public)); i++ {
		var got routeRule
		var want routes.Rule
		if i < len(rules) {
			got = rules[i]
		}
		if i < len(public) {
			want = public[i]
		}
		if got.Rule != want {
			t.Errorf("%s: rule %d is {%s %s auditfn-%s}, routes.Table[%d] is {%s %s auditfn-%s}",
				o, i, got.Kind, got.Path, got.Function, i, want.Kind, want.Path, want.Function)
			continue
		}
		if wantHost := "auditfn-" + want.Function + "." + namespace + ".svc.cluster.local"; got.host != wantHost {
			t.Errorf("%s: rule %d rewrites the host to %q, want %q (the Knative ingress routes on it)", o, i, got.host, wantHost)
		}
		if _, ok := d.ksvc("auditfn-" + want.Function); !ok {
			t.Errorf("%s: rule %d sends to auditfn-%s, which is not a Knative Service in the manifests", o, i, want.Function)
		}
		if want.Kind == routes.Regex {
			if _, err := regexp.Compile(want.Path); err != nil {
				t.Errorf("%s: rule %d: %v", o, i, err)
			}
		}
	}
}

// gatewayLookup is how an HTTPRoute implementation that orders matches
// Exact > RegularExpression > PathPrefix (Envoy Gateway, Contour, NGINX
// Gateway Fabric; kubernetes-sigs/gateway-api#2974) picks a rule: Exact and
// longest PathPrefix precedence are Gateway API core, and a PathPrefix matches
// whole path elements, ignoring a trailing slash. Ties go to the first rule.
func gatewayLookup(rules []routeRule, p string) string {
	for _, r := range rules {
		if r.Kind == routes.Exact && p == r.Path {
			return r.Function
		}
	}
	for _, r := range rules {
		if r.Kind == routes.Regex && regexp.MustCompile(r.Path).MatchString(p) {
			return r.Function
		}
	}
	best, bestLen := "", -1
	for _, r := range rules {
		if r.Kind != routes.Prefix {
			continue
		}
		pre := strings.TrimSuffix(r.Path, "/")
		if (pre == "" || p == pre || strings.HasPrefix(p, pre+"/")) && len(pre) > bestLen {
			best, bestLen = r.Function, len(pre)
		}
	}
	return best
}

// knownDivergences are the paths on which the cluster's HTTPRoute and the
// first-match-wins routes.Lookup (the local router) disagree; README.md
// "HTTP route" documents them. The test fails on any other, and on any of
// these that no longer diverges, so the documentation stays true.
var knownDivergences = map[string]struct{ gateway, table string }{
	// The regex rule outranks the earlier PathPrefix on the gateway.
	"/api/v1/workflows/actions/validate": {gateway: "validate", table: "workflows"},
}

func TestHTTPRoutePrecedenceAgreesWithLocalRouter(t *testing.T) {
	d := load(t)
	_, rules := httpRouteRules(t, d)
	probes := []string{"/", "/metrics", "/health/readiness", "/api", "/api/v1/workflows", "/api/v1/workflows/",
		"/api/v1/workflows/actions", "/api/v1/workflows/actions/", "/api/v1/workflows/actions/ScaleReplicas",
		"/api/v1/workflows/actions/validate", "/api/v1/workflows/actionsX",
		"/api/v1/workflows/6ba7b810-9dad-51d0-80b7-00c04fd430c8",
		"/api/v1/workflows/6ba7b810-9dad-51d0-80b7-00c04fd430c8/validate",
		"/api/v1/workflows/not-a-uuid/validate", "/api/v1/workflows/x/validate/more", "/api/v1/workflows/x/y/validate",
		"/api/v1/audit", "/api/v1/audit/", "/api/v1/audit/events", "/api/v1/audit/aggregations", "/api/v1/audit/verify",
		"/api/v1/auditx", webhookPath, webhookPath + "/", webhookPath + "x"}
	for _, r := range routes.Table {
		if r.Kind != routes.Regex {
			probes = append(probes, r.Path)
		}
	}
	seen := map[string]bool{}
	for _, p := range probes {
		gw, table := gatewayLookup(rules, p), ""
		if r, ok := routes.Find(p); ok && !r.Internal {
			table = r.Function // internal paths are on no public route
		}
		known, isKnown := knownDivergences[p]
		switch {
		case gw == table && isKnown:
			t.Errorf("path %s: gateway and routes.Lookup now agree (%q); drop it from knownDivergences and README.md", p, gw)
		case gw != table && !isKnown:
			t.Errorf("path %s: the HTTPRoute sends it to %q, routes.Lookup to %q", p, gw, table)
		case gw != table && (known.gateway != gw || known.table != table):
			t.Errorf("path %s: gateway %q, routes.Lookup %q; knownDivergences says %+v", p, gw, table, known)
		}
		seen[p] = true
	}
	for p := range knownDivergences {
		if !seen[p] {
			t.Errorf("known divergence %s is not probed", p)
		}
	}
}

// ---------------------------------------------------------------------------
// Admission webhook

func TestMutatingWebhook(t *testing.T) {
	d := load(t)
	mwcs := d.all("MutatingWebhookConfiguration")
	if len(mwcs) != 1 {
		t.Fatalf("%d MutatingWebhookConfigurations, want 1", len(mwcs))
	}
	o := mwcs[0]
	hooks := list(o.m, "webhooks")
	// Each webhook blockclear serves: the resource it watches and what its
	// matchCondition must test.
	want := map[string]string{
		"workflowexecutions/status": "status.blockClearance",
		"workflowexecutions":        blockclear.LegacyAnnotation,
	}
	if len(hooks) != len(want) {
		t.Fatalf("%s: %d webhooks, want %d (status clearance and legacy annotation)", o, len(hooks), len(want))
	}
	var svc any
	seen := map[string]bool{}
	for i, w := range hooks {
		at := fmt.Sprintf("%s: webhooks[%d] %s", o, i, str(w, "name"))
		if v := str(w, "failurePolicy"); v != "Fail" {
			t.Errorf("%s: failurePolicy %q, want Fail", at, v)
		}
		if v, _ := get(w, "timeoutSeconds").(float64); v < 1 || v > 30 {
			t.Errorf("%s: timeoutSeconds %v, want 1..30", at, get(w, "timeoutSeconds"))
		}
		if v := strs(w, "admissionReviewVersions"); !slices.Equal(v, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions %v, want [v1]", at, v)
		}
		rules := list(w, "rules")
		if len(rules) != 1 {
			t.Fatalf("%s: %d rules, want 1", at, len(rules))
		}
		r := rules[0]
		res := strs(r, "resources")
		if len(res) != 1 || want[res[0]] == "" {
			t.Fatalf("%s: resources %v, want one of workflowexecutions/status, workflowexecutions", at, res)
		}
		seen[res[0]] = true
		for k, v := range map[string][]string{"apiGroups": {"kubernaut.ai"}, "apiVersions": {"v1alpha1"}, "operations": {"UPDATE"}} {
			if got := strs(r, k); !slices.Equal(got, v) {
				t.Errorf("%s: rules[0].%s = %v, want %v", at, k, got, v)
			}
		}
		conds := list(w, "matchConditions")
		if len(conds) != 1 || !strings.Contains(str(conds[0], "expression"), want[res[0]]) {
			t.Errorf("%s: want one matchCondition testing %s, so other writes skip the webhook", at, want[res[0]])
		}
		switch se := str(w, "sideEffects"); {
		case res[0] == "workflowexecutions/status" && se != "NoneOnDryRun":
			// blockclear emits block.cleared, except for dry runs.
			t.Errorf("%s: sideEffects %q, want NoneOnDryRun", at, se)
		case se != "None" && se != "NoneOnDryRun":
			t.Errorf("%s: sideEffects %q, want None or NoneOnDryRun", at, se)
		}
		s := get(w, "clientConfig", "service")
		if get(w, "clientConfig", "url") != nil || s == nil {
			t.Fatalf("%s: clientConfig must name a service", at)
		}
		if svc != nil && fmt.Sprint(s) != fmt.Sprint(svc) {
			t.Errorf("%s: clientConfig.service %v differs from the other webhook's %v", at, s, svc)
		}
		svc = s
	}
	if len(seen) != len(want) {
		t.Errorf("%s: webhooks cover %v, want %v", o, seen, want)
	}

	// The path is blockclear's, by the route table.
	if p := str(svc, "path"); p != webhookPath || routes.Lookup(p) != "blockclear" {
		t.Errorf("%s: webhook path %q, want %s, which routes.Table gives to blockclear", o, p, webhookPath)
	}
	if ns := str(svc, "namespace"); ns != namespace {
		t.Errorf("%s: service namespace %q, want %q", o, ns, namespace)
	}
	port, _ := get(svc, "port").(float64)
	if port == 0 {
		port = 443
	}

	// The service is the TLS proxy, and the proxy forwards exactly that path
	// to the Knative Service running blockclear.
	name := str(svc, "name")
	core, ok := d.find("", "Service", name)
	if !ok {
		t.Fatalf("%s: webhook service %s is not a (core) Service in the manifests", o, name)
	}
	if typ := str(core.m, "spec", "type"); typ != "" && typ != "ClusterIP" {
		t.Errorf("%s: Service %s is %s; the API server calls only Services with endpoints", core, name, typ)
	}
	var targetPort any
	for _, p := range list(core.m, "spec", "ports") {
		if v, _ := get(p, "port").(float64); v == port {
			targetPort = get(p, "targetPort")
		}
	}
	if targetPort == nil {
		t.Fatalf("%s: Service %s has no port %v with a targetPort", core, name, port)
	}
	sel, _ := get(core.m, "spec", "selector").(map[string]any)
	proxy := d.selected(sel)
	if len(proxy) != 1 {
		t.Fatalf("%s: Service %s selects %d Deployments, want 1", core, name, len(proxy))
	}
	dep := proxy[0]
	podSpec := get(dep.m, "spec", "template", "spec")
	var portOK bool
	for _, c := range list(podSpec, "containers") {
		for _, p := range list(c, "ports") {
			if get(p, "name") == targetPort || get(p, "containerPort") == targetPort {
				portOK = true
			}
		}
	}
	if !portOK {
		t.Errorf("%s: no container port matches targetPort %v of Service %s", dep, targetPort, name)
	}
	conf := d.volumeConfigMapText(t, dep)
	upstream := "proxy_pass http://auditfn-blockclear." + namespace + ".svc.cluster.local;"
	loc := regexp.MustCompile(`location = ` + regexp.QuoteMeta(webhookPath) + `\s*\{[^}]*` + regexp.QuoteMeta(upstream))
	if !loc.MatchString(conf) {
		t.Errorf("%s: the proxy's nginx config must forward `location = %s` with %q", dep, webhookPath, upstream)
	}
	if bc, ok := d.ksvc("auditfn-blockclear"); !ok || str(envOf(list(bc.m, "spec", "template", "spec", "containers")[0])["AUDITFN_FUNCTION"], "value") != "blockclear" {
		t.Errorf("the proxy's upstream auditfn-blockclear is not a Knative Service running blockclear")
	}

	// TLS: cert-manager injects the CA of the Certificate the proxy serves.
	inject := str(o.m, "metadata", "annotations", "cert-manager.io/inject-ca-from")
	certNS, certName, _ := strings.Cut(inject, "/")
	cert, ok := d.find("cert-manager.io", "Certificate", certName)
	if certNS != namespace || !ok {
		t.Fatalf("%s: cert-manager.io/inject-ca-from %q does not name a Certificate in %s", o, inject, namespace)
	}
	dns := strs(cert.m, "spec", "dnsNames")
	if !slices.Contains(dns, name+"."+namespace+".svc") {
		t.Errorf("%s: Certificate %s dnsNames %v lack %s.%s.svc, the name the API server checks", cert, certName, dns, name, namespace)
	}
	secret := str(cert.m, "spec", "secretName")
	var mounted string
	for _, v := range list(podSpec, "volumes") {
		if str(v, "secret", "secretName") == secret {
			for _, c := range list(podSpec, "containers") {
				for _, m := range list(c, "volumeMounts") {
					if str(m, "name") == str(v, "name") {
						mounted = str(m, "mountPath")
					}
				}
			}
		}
	}
	if mounted == "" {
		t.Fatalf("%s: the proxy does not mount Secret %s of Certificate %s", dep, secret, certName)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if !strings.Contains(conf, path.Join(mounted, f)+";") {
			t.Errorf("%s: nginx config does not use %s", dep, path.Join(mounted, f))
		}
	}
}

// selected returns the Deployments whose pod template labels match sel.
func (d *deployment) selected(sel map[string]any) []object {
	var out []object
	if len(sel) == 0 {
		return nil
	}
	for _, o := range d.all("Deployment") {
		labels, _ := get(o.m, "spec", "template", "metadata", "labels").(map[string]any)
		match := true
		for k, v := range sel {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, o)
		}
	}
	return out
}

// volumeConfigMapText concatenates the data of every ConfigMap a
// Deployment mounts.
func (d *deployment) volumeConfigMapText(t *testing.T, dep object) string {
	t.Helper()
	var b strings.Builder
	for _, v := range list(dep.m, "spec", "template", "spec", "volumes") {
		name := str(v, "configMap", "name")
		if name == "" {
			continue
		}
		cm, ok := d.find("", "ConfigMap", name)
		if !ok {
			t.Fatalf("%s: ConfigMap %s is not in the manifests", dep, name)
		}
		data, _ := get(cm.m, "data").(map[string]any)
		for _, v := range data {
			s, _ := v.(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// References

// ref is a reference from one manifest to an object that must exist.
type ref struct {
	from        object
	field       string
	group, kind string
	name        string
	namespace   string // "" = the referrer's
	key         string // for secretKeyRef / configMapKeyRef
}

func (r ref) String() string {
	s := fmt.Sprintf("%s: %s → %s %s", r.from, r.field, r.kind, r.name)
	if r.group != "" {
		s = fmt.Sprintf("%s: %s → %s.%s %s", r.from, r.field, r.kind, r.group, r.name)
	}
	if r.key != "" {
		s += " key " + r.key
	}
	return s
}

// references collects every reference an object makes by ref,
// serviceAccountName, roleRef, subjects, secretKeyRef, configMapKeyRef,
// volumes, issuerRef, a Broker's config, a webhook's clientConfig.service,
// a CA Issuer's secret and the cert-manager inject-ca-from annotation.
func references(o object) []ref {
	var out []ref
	add := func(field, apiGroup, kind, name, ns, key string) {
		out = append(out, ref{from: o, field: field, group: apiGroup, kind: kind, name: name, namespace: ns, key: key})
	}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", at, i), e)
			}
		case map[string]any:
			for k, e := range v {
				field := at + "." + k
				switch k {
				case "ref", "config":
					if str(e, "kind") != "" {
						add(field, group(str(e, "apiVersion")), str(e, "kind"), str(e, "name"), str(e, "namespace"), "")
						continue
					}
				case "serviceAccountName":
					if s, ok := e.(string); ok {
						add(field, "", "ServiceAccount", s, "", "")
					}
				case "roleRef":
					add(field, str(e, "apiGroup"), str(e, "kind"), str(e, "name"), "", "")
				case "subjects":
					for i, s := range list(v, k) {
						if str(s, "kind") == "ServiceAccount" {
							add(fmt.Sprintf("%s[%d]", field, i), "", "ServiceAccount", str(s, "name"), str(s, "namespace"), "")
						}
					}
				case "secretKeyRef":
					add(field, "", "Secret", str(e, "name"), "", str(e, "key"))
				case "configMapKeyRef":
					add(field, "", "ConfigMap", str(e, "name"), "", str(e, "key"))
				case "issuerRef":
					kind := str(e, "kind")
					if kind == "" {
						kind = "Issuer"
					}
					add(field, "cert-manager.io", kind, str(e, "name"), "", "")
				case "volumes":
					for i, vol := range list(v, k) {
						if s := str(vol, "secret", "secretName"); s != "" {
							add(fmt.Sprintf("%s[%d].secret", field, i), "", "Secret", s, "", "")
						}
						if c := str(vol, "configMap", "name"); c != "" {
							add(fmt.Sprintf("%s[%d].configMap", field, i), "", "ConfigMap", c, "", "")
						}
					}
				case "clientConfig":
					if s := get(e, "service"); s != nil {
						add(field+".service", "", "Service", str(s, "name"), str(s, "namespace"), "")
					}
				case "ca":
					if o.kind() == "Issuer" {
						add(field+".secretName", "", "Secret", str(e, "secretName"), "", "")
					}
				}
				walk(field, e)
			}
		}
	}
	walk("", o.m)
	if v := str(o.m, "metadata", "annotations", "cert-manager.io/inject-ca-from"); v != "" {
		ns, name, _ := strings.Cut(v, "/")
		add("metadata.annotations[cert-manager.io/inject-ca-from]", "cert-manager.io", "Certificate", name, ns, "")
	}
	return out
}

// defined indexes what exists once the deployment is applied: its objects,
// the Secret templates, generated ConfigMaps and cert-manager's Secrets.
type defined struct {
	objects map[string]bool            // group/kind/name
	keys    map[string]map[string]bool // Secret or ConfigMap name → keys, when known
}

func index(objects, secrets []object, generated map[string]bool) defined {
	d := defined{objects: map[string]bool{}, keys: map[string]map[string]bool{}}
	put := func(apiGroup, kind, name string) { d.objects[apiGroup+"/"+kind+"/"+name] = true }
	for _, o := range append(append([]object{}, objects...), secrets...) {
		put(o.group(), o.kind(), o.name())
		if o.kind() == "Secret" || o.kind() == "ConfigMap" {
			keys := map[string]bool{}
			for _, f := range []string{"data", "stringData"} {
				m, _ := get(o.m, f).(map[string]any)
				for k := range m {
					keys[k] = true
				}
			}
			d.keys[o.kind()+"/"+o.name()] = keys
		}
		if o.group() == "serving.knative.dev" && o.kind() == "Service" {
			put("", "Service", o.name()) // Knative creates it
		}
		if o.kind() == "Certificate" {
			put("", "Secret", str(o.m, "spec", "secretName"))
		}
	}
	for name := range generated {
		put("", "ConfigMap", name)
	}
	return d
}

// dangling returns every reference that names nothing defined.
func dangling(objects, secrets []object, generated map[string]bool) []string {
	d := index(objects, secrets, generated)
	var out []string
	for _, o := range objects {
		for _, r := range references(o) {
			switch {
			case r.name == "":
				out = append(out, r.String()+": no name")
			case r.namespace != "" && r.namespace != o.namespace() && o.namespace() != "":
				out = append(out, r.String()+": in another namespace "+r.namespace)
			case r.namespace != "" && o.namespace() == "" && r.namespace != namespace:
				out = append(out, r.String()+": namespace "+r.namespace+" is not "+namespace)
			case !d.objects[r.group+"/"+r.kind+"/"+r.name]:
				out = append(out, r.String()+": not defined in the manifests")
			case r.key != "":
				if keys, ok := d.keys[r.kind+"/"+r.name]; ok && !keys[r.key] {
					out = append(out, r.String()+": no such key")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestNoDanglingReferences(t *testing.T) {
	d := load(t)
	for _, p := range dangling(d.objects, d.secrets, d.generated) {
		t.Error(p)
	}
	var n int
	for _, o := range d.objects {
		n += len(references(o))
	}
	if n < 40 {
		t.Errorf("only %d references found; is references() still walking the manifests?", n)
	}
}

// TestDanglingDetectsBrokenReferences proves the reference check can fail.
func TestDanglingDetectsBrokenReferences(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(p, []byte(`
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: kubernaut}
stringData: {present: x}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: kubernaut}
spec:
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: missing-subscriber}}
  delivery: {deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: missing-dls}}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn, namespace: kubernaut}
spec:
  template:
    spec:
      serviceAccountName: missing-sa
      containers:
      - env:
        - {name: A, valueFrom: {secretKeyRef: {name: s, key: absent}}}
        - {name: B, valueFrom: {secretKeyRef: {name: missing-secret, key: k}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: kubernaut}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: missing-role}
subjects: [{kind: ServiceAccount, name: missing-subject, namespace: kubernaut}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := loadFile(p, "broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(dangling(objs, nil, nil), "\n")
	for _, want := range []string{"missing-subscriber", "missing-dls", "missing-sa", "Secret s key absent: no such key",
		"missing-secret", "missing-role", "missing-subject"} {
		if !strings.Contains(got, want) {
			t.Errorf("dangling() missed %q; it reported:\n%s", want, got)
		}
	}
}

// ---------------------------------------------------------------------------
// Secrets, setup Jobs

func TestSecretTemplatesHoldNoCredentials(t *testing.T) {
	d := load(t)
	if len(d.secrets) == 0 {
		t.Fatal("no Secret templates under infra/secrets/")
	}
	for _, s := range d.secrets {
		if s.kind() != "Secret" {
			t.Errorf("%s: %s in secrets/, only Secret templates belong there", s, s.kind())
			continue
		}
		if s.namespace() != namespace {
			t.Errorf("%s: namespace %q, want %q", s, s.namespace(), namespace)
		}
		if get(s.m, "data") != nil {
			t.Errorf("%s: use stringData with %s placeholders, not data", s, placeholder)
		}
		data, _ := get(s.m, "stringData").(map[string]any)
		if len(data) == 0 {
			t.Errorf("%s: no stringData", s)
		}
		for k, v := range data {
			if sv, _ := v.(string); !strings.Contains(sv, placeholder) {
				t.Errorf("%s: stringData.%s = %q holds no %s placeholder; templates must carry no real value", s, k, sv, placeholder)
			}
		}
	}
	// Every Secret the deployment reads is a template (or cert-manager's).
	for _, o := range d.objects {
		if o.kind() == "Secret" {
			t.Errorf("%s: Secret %s is applied with the deployment; move it to secrets/ as a template", o, o.name())
		}
	}
}

func TestMigrateJob(t *testing.T) {
	d := load(t)
	job, ok := d.find("batch", "Job", "auditfn-migrate")
	if !ok {
		t.Fatal("no Job auditfn-migrate")
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/jackc/tern/v2 (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/jackc/tern/v2")
	}
	ternVersion := string(m[1])
	var script strings.Builder
	podSpec := get(job.m, "spec", "template", "spec")
	for _, c := range containers(podSpec) {
		script.WriteString(strings.Join(strs(c, "command"), " "))
		script.WriteString(strings.Join(strs(c, "args"), " "))
	}
	s := script.String()
	if !strings.Contains(s, "github.com/jackc/tern/v2@"+ternVersion) {
		t.Errorf("%s: does not build tern %s, the version in go.mod (shared/pgdb.Migrate's)", job, ternVersion)
	}
	if !strings.Contains(s, "--version-table "+pgdb.VersionTable) {
		t.Errorf("%s: tern must use --version-table %s, as shared/pgdb.Migrate does", job, pgdb.VersionTable)
	}
	var mountsMigrations bool
	for _, v := range list(podSpec, "volumes") {
		if d.generated[str(v, "configMap", "name")] {
			mountsMigrations = true
		}
	}
	if !mountsMigrations {
		t.Errorf("%s: does not mount the generated migrations ConfigMap", job)
	}
	for _, key := range []string{"owner-dsn", "deadletter-owner-dsn"} {
		if !strings.Contains(fmt.Sprint(get(podSpec, "containers")), key) {
			t.Errorf("%s: does not migrate with Secret key %s", job, key)
		}
	}

	bucket, ok := d.find("batch", "Job", "auditfn-bucket")
	if !ok {
		t.Fatal("no Job auditfn-bucket")
	}
	if !strings.Contains(fmt.Sprint(get(bucket.m, "spec", "template", "spec", "containers")), "mb --ignore-existing --with-lock") {
		t.Errorf("%s: must create the buckets with Object Lock (mc mb --with-lock)", bucket)
	}
}

// TestReadmeCoversTheDeployment keeps the guide in step with the manifests.
func TestReadmeCoversTheDeployment(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, want := range []string{"kubectl apply -k infra/", "FUNC_ENABLE_HOST_BUILDER=true", "--builder=host",
		"git archive", "SIGKILL", "cert-manager", "Gateway API", "blockClearance", "Trino", "auditfn-block-clearer"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
	for p := range knownDivergences {
		if !strings.Contains(readme, p) {
			t.Errorf("README.md does not document the routing divergence on %s", p)
		}
	}
}
