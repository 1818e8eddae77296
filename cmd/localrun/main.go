// Command localrun is `make run`: it starts every function as its own OS
// process (the cmd/auditfn binary, one AUDITFN_FUNCTION each, exactly what a
// Knative Service runs) against the local stack, and a router on
// 127.0.0.1:8080 that routes paths to functions by the shared route table,
// as infra/'s HTTP route does. It stays in the foreground; Ctrl-C stops all.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"function"
	"function/shared/config"
	"function/shared/routes"
)

const (
	routerAddr = "127.0.0.1:8080"
	firstPort  = 8081
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("localrun", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	settings, err := config.FromEnvironment()
	if err != nil {
		return err
	}
	// The stack's settings, handed to every function over the environment.
	stack, err := config.ReadFile(filepath.Join(".local", "stack.env"))
	if err != nil {
		return fmt.Errorf("%w (run `make up` first)", err)
	}
	var env []string
	for k, v := range stack {
		env = append(env, k+"="+v)
	}
	bin := filepath.Join(".local", "bin", "auditfn")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/auditfn").CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/auditfn: %v\n%s", err, out)
	}

	// The collector first: every other function's K_SINK points at it.
	names := function.Names()
	addrs := map[string]string{}
	for i, n := range names {
		addrs[n] = fmt.Sprintf("127.0.0.1:%d", firstPort+i)
	}
	env = append(env, "K_SINK=http://"+addrs["collector"])
	kube := kubeFrom(stack)
	var kubeEnv []string
	if kube != nil {
		if kubeEnv, err = kube.blockclearSettings(); err != nil {
			return fmt.Errorf("local kube-apiserver: %w (run `make up`)", err)
		}
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	for _, n := range names {
		cmd := exec.Command(bin)
		cmd.Env = append(append(os.Environ(), env...), "AUDITFN_FUNCTION="+n, "LISTEN_ADDRESS="+addrs[n])
		if n == "catalogsync" { // it writes the catalog, as its own role
			dsn, err := url.Parse(stack[config.PGDSN])
			if err != nil {
				return fmt.Errorf("%s in stack.env: %w", config.PGDSN, err)
			}
			dsn.User = url.User("auditfn_catalog")
			cmd.Env = append(cmd.Env, config.PGDSN+"="+dsn.String())
		}
		if n == "blockclear" {
			cmd.Env = append(cmd.Env, kubeEnv...)
		}
		cmd.Stdout, cmd.Stderr = prefixed(n), prefixed(n)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", n, err)
		}
		procs = append(procs, cmd)
		if err := waitReady(ctx, addrs[n]); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}

	every := time.Hour
	if d, err := settings.Duration("AUDITFN_LOCAL_COMPACT_EVERY", every); err == nil {
		every = d // a local convenience: an invalid value keeps the default
	}
	go pingCompaction(ctx, log, "http://"+addrs["collector"], every)
	if kube != nil {
		stopWebhook, err := kube.registerWebhook(log, addrs["blockclear"])
		if err != nil {
			return fmt.Errorf("register the blockclear webhook: %w", err)
		}
		defer stopWebhook()
		go pingReconcile(ctx, log, "http://"+addrs["blockclear"])
	}

	srv := &http.Server{Addr: routerAddr, Handler: routes.Proxy(addrs), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("\nauditfn is running.\n  router:    http://%s  (discovery, /api/v1/audit/*, /mutate-workflowexecution)\n", routerAddr)
	for _, n := range names {
		fmt.Printf("  %-10s http://%s  (/health/readiness, /metrics)\n", n+":", addrs[n])
	}
	fmt.Printf("  collector is the CloudEvents sink (K_SINK) of the other functions; in a cluster only the Broker talks to it.\n")
	fmt.Printf("  compaction (archive of days older than AUDITFN_HOT_DAYS) runs a minute after start, then every %s (AUDITFN_LOCAL_COMPACT_EVERY)\n", every)
	if kube != nil {
		fmt.Printf("  block clearance: the local kube-apiserver (KUBECONFIG=%s) calls blockclear at https://%s for WorkflowExecutions in namespace %s;\n", kube.kubeconfig, webhookAddr, kubeNamespace)
		fmt.Printf("    clear one as alice, the documented command with --context alice (README \"Try it\"); it is audited within %s (a reconcile of the persisted object stands in for the ApiServerSource)\n", reconcileEvery)
	}
	fmt.Printf("  the audit API wants a bearer token: see .local/query-tokens\nCtrl-C stops the functions (make down stops PostgreSQL, MinIO and the kube-apiserver).\n\n")
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func waitReady(ctx context.Context, addr string) error {
	c := http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		resp, err := c.Get("http://" + addr + "/health/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("not ready after 30s")
}

// prefixed writes a process's output line by line, tagged with its name.
func prefixed(name string) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		return os.Stderr
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(os.Stderr, "[%s] %s\n", name, sc.Text())
		}
	}()
	return w
}
