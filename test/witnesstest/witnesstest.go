// Package witnesstest runs the upstream transparency-dev witness
// (cmd/omniwitness, built into .local/bin by `make up`) for tests: a C2SP
// tlog-witness server with its sqlite storage, inside a private network
// namespace. It listens on the namespace's loopback; it distributes to no
// one and fetches no public witness network config (those need flags it is
// not given), so it makes no connection at all. Its built-in list of public
// logs is only configuration: it polls none of them.
package witnesstest

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"function/test/procs"
	"function/test/testenv"
)

// Witness is one omniwitness process and its configuration.
type Witness struct {
	Name string // its key's name
	VKey string // its note verifier key
	// URL is its base URL inside the namespace: add-checkpoint is under it.
	URL  string
	ns   *testenv.Netns
	bin  string
	args []string
	proc *procs.Proc
}

// Start runs a witness named name in ns that witnesses the log origin
// signed by the note verifier key logVKey.
func Start(t testing.TB, ns *testenv.Netns, name, origin, logVKey string) *Witness {
	t.Helper()
	bin := filepath.Join(testenv.Root(t), ".local", "bin", "omniwitness")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("omniwitness is not built (run `make up`): %v", err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, logsFile := filepath.Join(dir, "witness.key"), filepath.Join(dir, "logs.yaml")
	logs := fmt.Sprintf("Logs:\n  - Origin: %q\n    PublicKey: %q\n", origin, logVKey)
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logsFile, []byte(logs), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := procs.FreeAddr(t)
	w := &Witness{Name: name, VKey: vkey, URL: "http://" + addr, ns: ns, bin: bin, args: []string{
		"--listen=" + addr, "--metrics_listen=", // no metrics listener
		"--db_file=" + filepath.Join(dir, "witness.db"),
		"--private_key_path=" + keyFile, "--additional_logs=" + logsFile,
		"--logtostderr", "--v=1",
	}}
	w.Restart(t)
	return w
}

// Restart starts the witness again with the same key and database (it
// must have been stopped).
func (w *Witness) Restart(t testing.TB) {
	t.Helper()
	w.proc = procs.Run(t, w.ns.Command(w.bin, w.args...))
	// Up when add-checkpoint answers: an empty body is a 400.
	c := w.ns.Client()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := c.Post(w.URL+"/add-checkpoint", "text/plain", strings.NewReader(""))
		if err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("witness %s not up on %s:\n%s", w.Name, w.URL, w.proc.Output())
}

// Stop kills the witness.
func (w *Witness) Stop() { w.proc.Kill() }

// Output is what the witness logged.
func (w *Witness) Output() string { return w.proc.Output() }

// PolicyLine is the witness's line of a formats/witness policy file.
func (w *Witness) PolicyLine() string {
	return fmt.Sprintf("witness %s %s %s\n", strings.ReplaceAll(w.Name, ".", "-"), w.VKey, w.URL)
}

// Policy is a policy file of the witnesses with a quorum of n of them.
func Policy(n int, ws ...*Witness) []byte {
	var b strings.Builder
	names := make([]string, len(ws))
	for i, w := range ws {
		b.WriteString(w.PolicyLine())
		names[i] = strings.ReplaceAll(w.Name, ".", "-")
	}
	fmt.Fprintf(&b, "group q %d %s\nquorum q\n", n, strings.Join(names, " "))
	return []byte(b.String())
}

// Post sends a raw add-checkpoint body to the witness and returns the
// status and answer.
func (w *Witness) Post(t testing.TB, body string) (int, string) {
	t.Helper()
	resp, err := w.ns.Client().Post(w.URL+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
