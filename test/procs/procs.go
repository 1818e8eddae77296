// Package procs builds the project's binaries and runs them as real OS
// processes for end-to-end and fault-injection tests: start, wait for
// readiness, SIGTERM, kill -9.
package procs

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"function/test/testenv"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// Binary builds the main package pkg (relative to the repository root, such
// as "./cmd/auditfn") once per test binary and returns its path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built[pkg]; ok {
		return path
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "auditfn-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	path := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = testenv.Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = path
	return path
}

// FreeAddr is a loopback address with a port free at the time of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running function process.
type Proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	Addr   string
	output *syncBuffer
	exited chan struct{}
	err    error
}

// URL is the process's base URL.
func (p *Proc) URL() string { return "http://" + p.Addr }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Start runs bin listening on addr with env (on top of a minimal
// environment) and waits until /health/readiness answers 200.
func Start(t testing.TB, bin, addr string, env map[string]string) *Proc {
	t.Helper()
	return start(t, nil, bin, addr, env)
}

// StartIn is Start inside the network namespace ns.
func StartIn(t testing.TB, ns *testenv.Netns, bin, addr string, env map[string]string) *Proc {
	t.Helper()
	return start(t, ns, bin, addr, env)
}

func start(t testing.TB, ns *testenv.Netns, bin, addr string, env map[string]string) *Proc {
	t.Helper()
	cmd := exec.Command(bin)
	client := &http.Client{Timeout: time.Second}
	if ns != nil {
		cmd = ns.Command(bin)
		client = ns.Client()
		client.Timeout = time.Second
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDRESS=" + addr}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := Run(t, cmd)
	p.Addr = addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before ready: %v\n%s", filepath.Base(bin), p.err, p.output.String())
		default:
		}
		resp, err := client.Get(p.URL() + "/health/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
	}
	t.Fatalf("%s not ready on %s after 30s:\n%s", filepath.Base(bin), addr, p.output.String())
	return nil
}

// Run starts cmd, as its caller made it, capturing its output, and kills
// it when the test ends. Unlike Start it waits for nothing: for a program
// that is not one of auditfn's functions.
func Run(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, output: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(cmd.Path), p.Addr, p.output.String())
		}
	})
	return p
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Term sends SIGTERM, as Knative does when scaling to zero.
func (p *Proc) Term() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
}

// Wait waits up to timeout for the process to exit and returns its error.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

// Output is what the process printed.
func (p *Proc) Output() string { return p.output.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
