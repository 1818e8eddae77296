package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/shared/auditlog"
	"function/shared/auditstore"
	"function/shared/bundle"
	"function/shared/tlog"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/procs"
	"function/test/testenv"
	"function/test/witnesstest"
)

// The collector, configured with a 2-of-3 witness policy file, has its
// checkpoints cosigned by three upstream witnesses (transparency-dev's
// omniwitness); with one down it goes on storing events and signing
// checkpoints, cosigned by the two others. The proof endpoint's checkpoint
// is the cosigned note. Collector and witnesses run in a private network
// namespace: the witnesses would listen on all interfaces otherwise.
func TestTheCollectorsCheckpointsAreCosignedByUpstreamWitnesses(t *testing.T) {
	ns := testenv.NewNetns(t)
	e := archivetest.New(t)
	ctx := context.Background()
	origin := e.Config().Origin
	key, err := archive.LoadSigner(e.KeyPath)
	require.NoError(t, err)
	signer, err := tlog.NewSigner(origin, key.Public(), key.Sign)
	require.NoError(t, err)
	var ws []*witnesstest.Witness
	for _, name := range []string{"a", "b", "c"} {
		ws = append(ws, witnesstest.Start(t, ns, name+".witness.test", origin, signer.VerifierKey))
	}
	policyFile := filepath.Join(t.TempDir(), "witnesses")
	require.NoError(t, os.WriteFile(policyFile, witnesstest.Policy(2, ws...), 0o600))

	settings := e.Settings()
	settings["AUDITFN_S3_ENDPOINT"] = ns.Forward(t, settings["AUDITFN_S3_ENDPOINT"])
	settings["AUDITFN_PG_DSN"] = testenv.SocketDSN(t, settings["AUDITFN_PG_DSN"])
	settings["AUDITFN_FUNCTION"] = "collector"
	settings[archive.SettingLogOrigin] = origin
	settings["AUDITFN_CHECKPOINT_INTERVAL"] = "200ms"
	settings[tlog.SettingWitnessPolicy] = policyFile
	settings[tlog.SettingWitnessTimeout] = "5s"
	col := procs.StartIn(t, ns, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), settings)
	client := ns.Client()

	send := func(tag string) auditevent.Event {
		events := fixtures.Flow("rr-witness-"+tag, time.Now())
		req, err := auditevent.HTTPRequest(ctx, col.URL(), events)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, "stored")
		return events[0]
	}
	// cosigned waits for a checkpoint of every event so far with n
	// cosignatures, and says how long after the events were stored.
	cosigned := func(n int) tlog.Checkpoint {
		stored := time.Now()
		var size int64
		require.NoError(t, e.Pool.QueryRow(ctx, `SELECT count(*) FROM audit.audit_events`).Scan(&size))
		var cp tlog.Checkpoint
		require.Eventually(t, func() bool {
			cp, err = tlog.Latest(ctx, e.Pool)
			return err == nil && cp.Size == uint64(size) && cp.Cosignatures == n
		}, 60*time.Second, 10*time.Millisecond, "a checkpoint of %d leaves cosigned by %d witnesses", size, n)
		var signedToCosigned float64
		require.NoError(t, e.Pool.QueryRow(ctx, `SELECT extract(epoch FROM max(w.received_at) - c.signed_at)::float8
			FROM audit.tree_cosignatures w JOIN audit.tree_checkpoints c USING (size) WHERE size = $1 GROUP BY c.signed_at`, cp.Size).Scan(&signedToCosigned))
		t.Logf("checkpoint %d: stored → cosigned by %d in %s (signed → cosigned %.0f ms; checkpoint interval 200ms)",
			cp.Size, n, time.Since(stored).Round(time.Millisecond), signedToCosigned*1000)
		return cp
	}

	first := send("1")
	cp := cosigned(3)
	policy, err := tlog.PolicyFromSettings(settings)
	require.NoError(t, err)
	assert.True(t, tlog.Witnessed(cp.Note, *policy))
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(t, err)
	raw, _, err := log.Proof(ctx, first.ID, "")
	require.NoError(t, err)
	var p proof.TLogProof
	require.NoError(t, p.Unmarshal(raw))
	assert.Equal(t, cp.Note, p.Checkpoint, "the proof's checkpoint is the cosigned note")
	assert.True(t, tlog.Witnessed(p.Checkpoint, *policy))

	// The remediation's bundle carries the cosigned checkpoint: it checks
	// against the policy with the public keys alone.
	var exported bytes.Buffer
	require.NoError(t, log.Export(ctx, auditstore.Filter{CorrelationID: first.CorrelationID}, bundle.Redaction{}, nil, &exported))
	vkey, err := note.NewEd25519VerifierKey(origin, key.Public())
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	rep := verify.Bundle(bytes.NewReader(exported.Bytes()), origin, []note.Verifier{v}, policy)
	assert.Empty(t, rep.Findings)
	assert.Positive(t, rep.EventsChecked)

	ws[2].Stop()
	second := send("2")
	cp = cosigned(2)
	assert.True(t, tlog.Witnessed(cp.Note, *policy), "2 of 3 still hold")
	// A verifier asking for all three finds the newest checkpoint short.
	strict, err := witness.ParsePolicy(witnesstest.Policy(3, ws...))
	require.NoError(t, err)
	exported.Reset()
	require.NoError(t, log.Export(ctx, auditstore.Filter{CorrelationID: second.CorrelationID}, bundle.Redaction{}, nil, &exported))
	rep = verify.Bundle(bytes.NewReader(exported.Bytes()), origin, []note.Verifier{v}, &strict)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, verify.TreeUnwitnessed, rep.Findings[0].Kind)
	send("3")
	cosigned(2)

	resp, err := client.Get(col.URL() + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "auditfn_collector_witness_pushes_total") {
			t.Log(line)
		}
	}
	assert.Contains(t, string(metrics), fmt.Sprintf(`auditfn_collector_witness_pushes_total{result="cosigned",witness=%q} 3`, ws[0].Name),
		"one push per checkpoint")
	assert.Regexp(t, fmt.Sprintf(`auditfn_collector_witness_pushes_total\{result="failed",witness=%q\} [1-9]`, ws[2].Name), string(metrics))
}
