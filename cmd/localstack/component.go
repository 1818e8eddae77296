package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// component is a server binary built from a wrapper module under
// cmd/localstack/build/<name>, whose go.mod and go.sum pin it: a build needs
// no `go mod tidy`, and the version is the one go.mod requires.
type component struct {
	name    string // binary, and wrapper directory unless dir is set
	dir     string
	module  string // the module whose required version is the component's
	pkg     string
	ldflags func(version string) string
	about   string   // how long a first build takes
	env     []string // added to the build's environment
}

var (
	etcdComponent = component{name: "etcd", module: "go.etcd.io/etcd/server/v3", pkg: "go.etcd.io/etcd/server/v3",
		ldflags: func(string) string { return "-s -w" }, about: "about a minute"}
	// kube-apiserver takes its version from ldflags, as Kubernetes' own
	// build sets it; without it, it reports v0.0.0 and kubectl warns.
	apiserverComponent = component{name: "kube-apiserver", module: "k8s.io/kubernetes", pkg: "k8s.io/kubernetes/cmd/kube-apiserver",
		ldflags: func(v string) string {
			parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
			return fmt.Sprintf("-s -w -X k8s.io/component-base/version.gitVersion=%s"+
				" -X k8s.io/component-base/version.gitMajor=%s -X k8s.io/component-base/version.gitMinor=%s", v, parts[0], parts[1])
		}, about: "10 to 15 minutes on 2 cores"}
	// The upstream ApiServerSource receive adapter, which the e2e tests run
	// against blockclear inside a private network namespace.
	adapterComponent = component{name: "apiserver_receive_adapter", module: "knative.dev/eventing",
		pkg: "knative.dev/eventing/cmd/apiserver_receive_adapter", dir: "knative-eventing",
		ldflags: func(string) string { return "-s -w" }, about: "about 4 minutes"}
	// The upstream PingSource adapter, which the e2e tests run against the
	// collector's compaction; it shares the wrapper and most of its build.
	mtpingComponent = component{name: "mtping", module: "knative.dev/eventing",
		pkg: "knative.dev/eventing/cmd/mtping", dir: "knative-eventing",
		ldflags: func(string) string { return "-s -w" }, about: "about 20 s after the adapter, 4 minutes alone"}
	// The multi-tenant Broker's data plane, which the e2e tests run with
	// infra/eventing's Broker and Triggers: the ingress, the in-memory
	// channel's dispatcher (the fan-out, one subscription per Trigger) and
	// the filter. Same wrapper as the adapters.
	brokerIngressComponent = component{name: "broker_ingress", module: "knative.dev/eventing",
		pkg: "knative.dev/eventing/cmd/broker/ingress", dir: "knative-eventing",
		ldflags: func(string) string { return "-s -w" }, about: "about 10 s after the adapters, 4 minutes alone"}
	brokerFilterComponent = component{name: "broker_filter", module: "knative.dev/eventing",
		pkg: "knative.dev/eventing/cmd/broker/filter", dir: "knative-eventing",
		ldflags: func(string) string { return "-s -w" }, about: "about 10 s after the adapters, 4 minutes alone"}
	imcDispatcherComponent = component{name: "imc_dispatcher", module: "knative.dev/eventing",
		pkg: "knative.dev/eventing/cmd/in_memory/channel_dispatcher", dir: "knative-eventing",
		ldflags: func(string) string { return "-s -w" }, about: "about 10 s after the adapters, 4 minutes alone"}
	// The upstream transparency-dev witness (C2SP tlog-witness), which the
	// witness tests run in a private network namespace. Its sqlite is pure
	// Go (modernc.org/sqlite): built without cgo, so no C compiler needed.
	witnessComponent = component{name: "omniwitness", dir: "witness", module: "github.com/transparency-dev/witness",
		pkg: "github.com/transparency-dev/witness/cmd/omniwitness", env: []string{"CGO_ENABLED=0"},
		ldflags: func(string) string { return "-s -w" }, about: "about 40 s after the others, 2.5 minutes alone"}
)

// kubeComponents are built by `make up`, in this order.
var kubeComponents = []component{etcdComponent, apiserverComponent, adapterComponent, mtpingComponent,
	brokerIngressComponent, brokerFilterComponent, imcDispatcherComponent, witnessComponent}

// build builds the component into binDir unless a binary of the pinned
// version is there. Go's build cache makes a rebuild after a version
// change of the wrapper's other modules mostly a relink.
func (c component) build(ctx context.Context, root, binDir string) error {
	wrapper := c.name
	if c.dir != "" {
		wrapper = c.dir
	}
	dir := filepath.Join(root, "cmd", "localstack", "build", wrapper)
	version, err := requiredVersion(filepath.Join(dir, "go.mod"), c.module)
	if err != nil {
		return err
	}
	bin := filepath.Join(binDir, c.name)
	if builtAt(bin, c.module, version) {
		return nil
	}
	fmt.Fprintf(os.Stderr, "building %s %s once into .local/bin (%s)...\n", c.name, version, c.about)
	start := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "-ldflags", c.ldflags(version), c.pkg)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly"), c.env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s in %s: %w", c.pkg, dir, err)
	}
	// Renamed only when complete: an interrupted build leaves no binary
	// that looks ready.
	if err := os.Rename(tmp, bin); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s in %s\n", c.name, time.Since(start).Round(time.Second))
	return nil
}

// requiredVersion is the version of module that gomod requires.
func requiredVersion(gomod, module string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s does not require %s", gomod, module)
	}
	return string(m[1]), nil
}

// builtAt says whether bin is a Go binary built with module at version,
// from its build information (the adapter has no --version flag).
func builtAt(bin, module, version string) bool {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false
	}
	if info.Main.Path == module {
		return info.Main.Version == version
	}
	for _, d := range info.Deps {
		if d.Path == module {
			return d.Version == version
		}
	}
	return false
}
