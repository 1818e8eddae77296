package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a private network namespace with only a loopback interface, for
// processes that listen on all interfaces (the Knative binaries' :8080):
// there, nothing they open is reachable from outside, and 127.0.0.1 is the
// namespace's own. A holder process keeps it alive until the test ends.
type Netns struct {
	pid int
}

// NewNetns makes a network namespace, removed when the test ends.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	holder := exec.Command("unshare", "--net", "--", "sleep", "infinity")
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare --net (needs root): %v", err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	n := &Netns{pid: holder.Process.Pid}
	// unshare moves into the new namespace just before it runs sleep.
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ns, err := os.Readlink(n.path())
		if err == nil && ns != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare --net: no new network namespace after 5s (%v)", err)
		}
	}
	if out, err := n.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	// Connections inside take their local ports above every port a test
	// listens on there (the control plane's fixed ones, FreeAddr's from the
	// host's range), so a listener never finds its port taken by one. The
	// setting is the namespace's own.
	if out, err := n.Command("sh", "-c", "echo 61000 65000 > /proc/sys/net/ipv4/ip_local_port_range").CombinedOutput(); err != nil {
		t.Fatalf("ephemeral port range: %v\n%s", err, out)
	}
	return n
}

func (n *Netns) path() string { return "/proc/" + strconv.Itoa(n.pid) + "/ns/net" }

// Command runs name inside the namespace. nsenter enters only the network
// namespace and then executes name itself, so the process is name's.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(n.pid), "-n", "--", name}, args...)...)
}

// Do runs f on a thread that is in the namespace: sockets f opens belong to
// it, and stay there when the thread goes back.
func (n *Netns) Do(f func() error) error {
	ns, err := os.Open(n.path())
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		// Unlocked only once back: a goroutine that ends locked takes its
		// thread with it, so no other code runs in the namespace by mistake.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(ns.Fd()), syscall.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), syscall.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// Listen listens on addr inside the namespace.
func (n *Netns) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// DialContext connects to addr inside the namespace.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Client is an HTTP client whose connections are made inside the namespace.
func (n *Netns) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: n.DialContext}}
}

// Forward listens on a free port of the namespace's loopback and relays
// each connection to the loopback address addr on the host, until the test
// ends; it returns the address inside. A process inside reaches one host
// service (such as MinIO, TCP only) there, and nothing else. Not addr's own
// port: inside, it may already be a connection's ephemeral port.
func (n *Netns) Forward(t testing.TB, addr string) string {
	t.Helper()
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("forward %s: not a loopback address", addr)
	}
	l, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l.Addr().String()
}
