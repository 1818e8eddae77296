package tlog_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditlog"
	"function/shared/config"
	"function/shared/tlog"
	"function/shared/verify"
	"function/test/testenv"
	"function/test/witnesstest"
)

// recorder is the publisher's HTTP client into the witnesses' namespace,
// keeping each answer's status by witness URL.
type recorder struct {
	mu     sync.Mutex
	status map[string][]int
	next   http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.status[req.URL.Host] = append(r.status[req.URL.Host], resp.StatusCode)
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) statuses(w *witnesstest.Witness) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.status[strings.TrimPrefix(w.URL, "http://")]
	r.status[strings.TrimPrefix(w.URL, "http://")] = nil
	return out
}

// witnessEnv is a log whose publisher pushes to witnesses running in a
// private network namespace.
type witnessEnv struct {
	e   *archivetest.Env
	pub *tlog.Publisher
	ns  *testenv.Netns
	rec *recorder
}

func newWitnessEnv(t *testing.T) *witnessEnv {
	e := archivetest.New(t)
	pub, err := archive.TreePublisher(context.Background(), e.Pool, e.Config(), nil)
	require.NoError(t, err)
	pub.Retention = 24 * time.Hour // the test bucket's objects: the 1-day minimum
	ns := testenv.NewNetns(t)
	rec := &recorder{status: map[string][]int{}, next: ns.Client().Transport}
	pub.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: rec}
	pub.Pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pushes"}, []string{"witness", "result"})
	return &witnessEnv{e: e, pub: pub, ns: ns, rec: rec}
}

// witness starts a witness of this log (of the log's key, or of another).
func (we *witnessEnv) witness(t *testing.T, name string, logVKey string) *witnesstest.Witness {
	if logVKey == "" {
		logVKey = we.pub.Signer.VerifierKey
	}
	return witnesstest.Start(t, we.ns, name+".witness.test", we.pub.Signer.Name(), logVKey)
}

func policy(t *testing.T, n int, ws ...*witnesstest.Witness) *witness.Group {
	p, err := witness.ParsePolicy(witnesstest.Policy(n, ws...))
	require.NoError(t, err)
	return &p
}

// step seeds n events and steps the publisher, which must not fail
// whatever the witnesses do.
func (we *witnessEnv) step(t *testing.T, n int) tlog.Checkpoint {
	if n > 0 {
		we.e.Seed(t, archivetest.DaysAgo(1), n)
	}
	_, err := we.pub.Step(context.Background())
	require.NoError(t, err)
	cp, err := tlog.Latest(context.Background(), we.e.Pool)
	require.NoError(t, err)
	return cp
}

func (we *witnessEnv) pushes(w *witnesstest.Witness, result string) float64 {
	return testutil.ToFloat64(we.pub.Pushes.WithLabelValues(w.Name, result))
}

// cosignedBy checks each witness's cosignature on the note with formats'
// own cosignature/v1 verifier.
func cosignedBy(t *testing.T, signed []byte, ws ...*witnesstest.Witness) {
	for _, w := range ws {
		v, err := f_note.NewVerifierForCosignatureV1(w.VKey)
		require.NoError(t, err)
		n, err := note.Open(signed, note.VerifierList(v))
		require.NoError(t, err, "cosigned by %s", w.Name)
		require.Len(t, n.Sigs, 1)
		ts, err := f_note.CoSigV1Timestamp(n.Sigs[0])
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), ts, time.Hour, "a cosignature's timestamp is the witness's clock")
	}
}

// cosignLatency is how long after signing the checkpoint of size its
// cosignatures were stored, the slowest.
func cosignLatency(t *testing.T, e *archivetest.Env, size uint64) time.Duration {
	var s float64
	require.NoError(t, e.Pool.QueryRow(context.Background(), `SELECT extract(epoch FROM max(w.received_at) - c.signed_at)::float8
		FROM audit.tree_cosignatures w JOIN audit.tree_checkpoints c USING (size) WHERE size = $1 GROUP BY c.signed_at`, size).Scan(&s))
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// unwitnessed verifies the log as /verify and cmd/verify do, with the
// witness policy file of n of ws in the settings; every finding must be
// of the newest checkpoint's witnesses.
func unwitnessed(t *testing.T, e *archivetest.Env, n int, ws ...*witnesstest.Witness) []verify.Finding {
	path := filepath.Join(t.TempDir(), "witnesses")
	require.NoError(t, os.WriteFile(path, witnesstest.Policy(n, ws...), 0o600))
	settings := e.Settings()
	settings[tlog.SettingWitnessPolicy] = path
	log, err := auditlog.Open(context.Background(), e.Pool, settings)
	require.NoError(t, err)
	rep, err := log.Verify(context.Background(), verify.Scope{})
	require.NoError(t, err)
	var out []verify.Finding
	for _, f := range rep.Findings {
		require.Equal(t, verify.TreeUnwitnessed, f.Kind, "%+v", f)
		out = append(out, f)
	}
	return out
}

// Three upstream witnesses cosign each checkpoint, through the log's growth
// (consistency proofs from the size each last cosigned); with one down the
// log goes on and a 2-of-3 policy still holds, a 3-of-3 one is reported
// unwitnessed; back up, it cosigns the newest; a publisher that restarted
// (knowing no witness's size) resyncs through their 409s. The cosigned
// note is what Latest, the proof endpoint and the bucket's checkpoint give.
func TestWitnessesCosignEachCheckpoint(t *testing.T) {
	we := newWitnessEnv(t)
	ctx := context.Background()
	a, b, c := we.witness(t, "a", ""), we.witness(t, "b", ""), we.witness(t, "c", "")
	two, all := policy(t, 2, a, b, c), policy(t, 3, a, b, c)
	we.pub.Witnesses = two

	cp := we.step(t, 5)
	require.EqualValues(t, 5, cp.Size)
	require.Equal(t, 3, cp.Cosignatures)
	cosignedBy(t, cp.Note, a, b, c)
	assert.True(t, tlog.Witnessed(cp.Note, *two))
	assert.True(t, tlog.Witnessed(cp.Note, *all))
	assert.Equal(t, []string{a.Name, b.Name, c.Name}, tlog.Cosigners(cp.Note, *all))
	t.Logf("checkpoint %d: signed → cosigned by 3 witnesses in %s", cp.Size, cosignLatency(t, we.e, cp.Size))
	_, _, err := tlog.Open(cp.Note, we.pub.Signer.Name(), verifiers(t, we.pub.Signer))
	require.NoError(t, err, "the cosigned note is still the log's checkpoint")

	// Published: the numbered key keeps the log's note, the cosigned copy
	// and the newest checkpoint have the witnesses' lines.
	plain, err := tlog.Checkpoints(ctx, we.e.Pool, 0, cp.Size)
	require.NoError(t, err)
	assert.Equal(t, plain[0].Note, we.e.Get(t, format.TreeCheckpointKey(cp.Size)))
	assert.Equal(t, cp.Note, we.e.Get(t, format.TreeCosignedKey(cp.Size)))
	assert.Equal(t, cp.Note, we.e.Get(t, format.TreeLatestKey))

	cp = we.step(t, 300) // across a tile: each witness checks the consistency proof
	require.EqualValues(t, 305, cp.Size)
	require.Equal(t, 3, cp.Cosignatures)
	cosignedBy(t, cp.Note, a, b, c)
	for _, w := range []*witnesstest.Witness{a, b, c} {
		assert.Equal(t, []int{200, 200}, we.rec.statuses(w), "%s: one push per checkpoint", w.Name)
	}
	t.Logf("checkpoint %d: signed → cosigned by 3 witnesses in %s", cp.Size, cosignLatency(t, we.e, cp.Size))
	assert.Empty(t, unwitnessed(t, we.e, 3, a, b, c))

	c.Stop()
	cp = we.step(t, 7)
	require.EqualValues(t, 312, cp.Size, "a witness down stops no checkpoint")
	require.Equal(t, 2, cp.Cosignatures)
	cosignedBy(t, cp.Note, a, b)
	assert.True(t, tlog.Witnessed(cp.Note, *two), "2 of 3 still hold")
	assert.False(t, tlog.Witnessed(cp.Note, *all))
	assert.Equal(t, 1.0, we.pushes(c, "failed"))
	assert.Empty(t, unwitnessed(t, we.e, 2, a, b, c))
	fs := unwitnessed(t, we.e, 3, a, b, c)
	require.Len(t, fs, 1)
	assert.Equal(t, format.TreeCosignedKey(312), fs[0].Object, "the finding names the checkpoint")
	assert.Contains(t, fs[0].Problem, "checkpoint 312")
	assert.Equal(t, cp.Note, we.e.Get(t, format.TreeLatestKey), "published with the cosignatures it has")
	assert.Equal(t, []int{200}, we.rec.statuses(a))
	assert.Equal(t, []int{200}, we.rec.statuses(b))

	c.Restart(t)
	cp = we.step(t, 0) // the tree did not grow: only c is asked again
	require.Equal(t, 3, cp.Cosignatures, "back up, it cosigns the newest checkpoint")
	cosignedBy(t, cp.Note, c)
	assert.Empty(t, we.rec.statuses(a))
	assert.Equal(t, []int{200}, we.rec.statuses(c))
	assert.Empty(t, unwitnessed(t, we.e, 3, a, b, c))
	assert.Equal(t, cp.Note, we.e.Get(t, format.TreeCosignedKey(312)), "a new version of the cosigned copy")
	assert.Equal(t, cp.Note, we.e.Get(t, format.TreeLatestKey))

	// A publisher that restarted knows no witness's size: it says 0, each
	// answers 409 with its size, and the push is made again from there.
	restarted, err := archive.TreePublisher(ctx, we.e.Pool, we.e.Config(), nil)
	require.NoError(t, err)
	restarted.Retention, restarted.HTTPClient, restarted.Witnesses = we.pub.Retention, we.pub.HTTPClient, two
	we.pub = restarted
	cp = we.step(t, 4)
	require.EqualValues(t, 316, cp.Size)
	require.Equal(t, 3, cp.Cosignatures)
	for _, w := range []*witnesstest.Witness{a, b, c} {
		assert.Equal(t, []int{409, 200}, we.rec.statuses(w), w.Name)
	}
}

// A witness given another key for the log refuses its checkpoints: no
// cosignature from it, the others' are kept, and a policy that needs it is
// not satisfied.
func TestAWitnessWithAnotherKeyForTheLogDoesNotCosign(t *testing.T) {
	we := newWitnessEnv(t)
	_, otherVKey, err := note.GenerateKey(rand.Reader, we.pub.Signer.Name())
	require.NoError(t, err)
	a, b := we.witness(t, "a", ""), we.witness(t, "b", "")
	wrong := we.witness(t, "wrong", otherVKey)
	we.pub.Witnesses = policy(t, 2, a, b, wrong)

	cp := we.step(t, 3)
	require.Equal(t, 2, cp.Cosignatures)
	cosignedBy(t, cp.Note, a, b)
	assert.Equal(t, []string{a.Name, b.Name}, tlog.Cosigners(cp.Note, *policy(t, 3, a, b, wrong)))
	assert.True(t, tlog.Witnessed(cp.Note, *we.pub.Witnesses))
	assert.False(t, tlog.Witnessed(cp.Note, *policy(t, 3, a, b, wrong)))
	status := we.rec.statuses(wrong)
	require.Len(t, status, 1)
	assert.GreaterOrEqual(t, status[0], 400, "refused")
	assert.Equal(t, 1.0, we.pushes(wrong, "refused")+we.pushes(wrong, "failed"))
	t.Logf("the witness with another key answered %d", status[0])
}

// The fork case of the tamper matrix: a checkpoint with another root at a
// size the witnesses cosigned, or a forked log (same name and key, other
// events) that grew past it, is refused by every witness. The witnesses'
// view is unharmed: the real log goes on being cosigned.
func TestWitnessesRefuseAForkedCheckpoint(t *testing.T) {
	we := newWitnessEnv(t)
	ctx := context.Background()
	a, b, c := we.witness(t, "a", ""), we.witness(t, "b", ""), we.witness(t, "c", "")
	we.pub.Witnesses = policy(t, 2, a, b, c)
	cp := we.step(t, 20)
	require.Equal(t, 3, cp.Cosignatures)
	for _, w := range []*witnesstest.Witness{a, b, c} {
		require.Equal(t, []int{200}, we.rec.statuses(w))
	}

	// Another root at the size they cosigned, signed with the log's key.
	forged, err := we.pub.Signer.Checkpoint(tlog.Head{Size: cp.Size, Root: rfc6962.DefaultHasher.HashLeaf([]byte("fork"))}, time.Now())
	require.NoError(t, err)
	for _, w := range []*witnesstest.Witness{a, b, c} {
		status, body := w.Post(t, fmt.Sprintf("old %d\n\n%s", cp.Size, forged.Note))
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %s", w.Name, body)
		assert.Eventually(t, func() bool { return strings.Contains(w.Output(), "INCONSISTENT CHECKPOINTS") }, 30*time.Second, 10*time.Millisecond,
			"%s logs the fork", w.Name)
	}

	// A forked log: another database, the same origin and key, more
	// events. Each witness answers 409 with the size it cosigned; the fork's
	// consistency proof from there does not lead to the root they know.
	fork := archivetest.New(t)
	cfg := fork.Config()
	cfg.SigningKeyPath, cfg.Origin = we.e.KeyPath, we.e.Config().Origin
	forkPub, err := archive.TreePublisher(ctx, fork.Pool, cfg, nil)
	require.NoError(t, err)
	forkPub.Retention = we.pub.Retention
	forkPub.HTTPClient, forkPub.Witnesses, forkPub.Pushes = we.pub.HTTPClient, we.pub.Witnesses, we.pub.Pushes
	fork.Seed(t, archivetest.DaysAgo(1), 50)
	_, err = forkPub.Step(ctx)
	require.NoError(t, err, "refusals do not stop the fork's checkpointing either")
	forked, err := tlog.Latest(ctx, fork.Pool)
	require.NoError(t, err)
	require.EqualValues(t, 50, forked.Size)
	assert.Zero(t, forked.Cosignatures, "no witness cosigns the fork")
	for _, w := range []*witnesstest.Witness{a, b, c} {
		assert.Equal(t, []int{409, 422}, we.rec.statuses(w), w.Name)
		assert.Equal(t, 1.0, we.pushes(w, "refused"), w.Name)
	}
	require.Len(t, unwitnessed(t, fork, 2, a, b, c), 1, "the fork's checkpoint is reported unwitnessed")

	cp = we.step(t, 5)
	require.EqualValues(t, 25, cp.Size)
	assert.Equal(t, 3, cp.Cosignatures, "the real log is still cosigned")
}

func verifiers(t *testing.T, s *tlog.Signer) []note.Verifier {
	v, err := note.NewVerifier(s.VerifierKey)
	require.NoError(t, err)
	return []note.Verifier{v}
}

func TestTheWitnessTimeoutIsASetting(t *testing.T) {
	c, err := tlog.ClientFromSettings(config.Config{})
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, c.Timeout)
	c, err = tlog.ClientFromSettings(config.Config{tlog.SettingWitnessTimeout: "1500ms"})
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, c.Timeout)
	_, err = tlog.ClientFromSettings(config.Config{tlog.SettingWitnessTimeout: "soon"})
	assert.ErrorContains(t, err, tlog.SettingWitnessTimeout)
}
