package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/auditlog"
	"function/shared/auditstore"
	"function/shared/bundle"
	"function/shared/tlog"
	"function/shared/verify"
)

// treeFigures are the Merkle tree's figures (docs/integrity.md §7–§8) over
// BenchmarkQuery's log of about a million events.
type treeFigures struct {
	leaves                      uint64
	integrateRate, verifyRate   float64       // leaves/s; events/s of the whole verify, tree included
	publish                     time.Duration // the first checkpoint with all full tiles
	proofBytes                  int
	exported                    int
	exportRate, bundleCheckRate float64 // events/s
	bundleBytesPerEvent         float64
	trails                      int           // correlation ids in the trail index
	trailBytes                  int           // a remediation's bundle header's trail (entry and proof)
	trailVerify                 time.Duration // a remediation-scoped verify, its trail shown complete
}

// benchTree integrates every event into the tree and the trail index,
// signing a checkpoint per integration (the collector's publisher step,
// here over the whole log), then verifies the whole log with the tree and
// the index rebuilt, which must find nothing: no false positive over a
// clean run of about a million events. Then it serves a proof, exports an
// hour of events as a bundle and checks it, and shows one remediation's
// trail complete.
func benchTree(b testing.TB, e *archivetest.Env) treeFigures {
	ctx := context.Background()
	var f treeFigures
	pub, err := archive.TreePublisher(ctx, e.Pool, e.Config(), nil)
	require.NoError(b, err)
	pub.Retention = 24 * time.Hour
	t0 := time.Now()
	head, err := tlog.CatchUp(ctx, e.Pool, pub.Signer)
	require.NoError(b, err)
	f.leaves, f.integrateRate = head.Size, float64(head.Size)/time.Since(t0).Seconds()
	t0 = time.Now()
	_, err = pub.Step(ctx) // uploads every full tile at once
	require.NoError(b, err)
	f.publish = time.Since(t0)

	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(b, err)
	t0 = time.Now()
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(b, err)
	require.Empty(b, rep.Findings, "a clean log verifies clean, tree included")
	require.EqualValues(b, head.Size, rep.EventsChecked)
	f.verifyRate = float64(rep.EventsChecked) / time.Since(t0).Seconds()

	var last uuid.UUID
	require.NoError(b, e.Pool.QueryRow(ctx, `SELECT event_id FROM audit.audit_events ORDER BY ledger_seq DESC, ledger_pos DESC LIMIT 1`).Scan(&last))
	p, _, err := log.Proof(ctx, last, "")
	require.NoError(b, err)
	f.proofBytes = len(p)

	since := archivetest.DaysAgo(1)
	var exported bytes.Buffer
	t0 = time.Now()
	require.NoError(b, log.Export(ctx, auditstore.Filter{Since: since, Until: since.Add(time.Hour)}, bundle.Redaction{}, nil, &exported))
	took := time.Since(t0)
	signer, err := archive.LoadSigner(e.KeyPath)
	require.NoError(b, err)
	vkey, err := note.NewEd25519VerifierKey(e.Config().Origin, signer.Public())
	require.NoError(b, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(b, err)
	size := exported.Len()
	t0 = time.Now()
	brep := verify.Bundle(&exported, e.Config().Origin, []note.Verifier{v}, nil)
	require.Empty(b, brep.Findings)
	f.exported = brep.EventsChecked
	f.exportRate = float64(f.exported) / took.Seconds()
	f.bundleCheckRate = float64(f.exported) / time.Since(t0).Seconds()
	f.bundleBytesPerEvent = float64(size) / float64(f.exported)

	// One remediation, as an auditor checks it: its scoped verify shows
	// the trail complete, and its bundle carries the trail's proof.
	var id string
	require.NoError(b, e.Pool.QueryRow(ctx, `SELECT correlation_id FROM audit.audit_events WHERE event_id = $1`, last).Scan(&id))
	require.NoError(b, e.Pool.QueryRow(ctx, `SELECT count(DISTINCT correlation_id) FROM audit.audit_events`).Scan(&f.trails))
	t0 = time.Now()
	trep, err := log.Verify(ctx, verify.Scope{CorrelationID: id})
	require.NoError(b, err)
	f.trailVerify = time.Since(t0)
	require.Empty(b, trep.Findings)
	require.True(b, trep.Trail.Complete)
	exported.Reset()
	require.NoError(b, log.Export(ctx, auditstore.Filter{CorrelationID: id}, bundle.Redaction{}, nil, &exported))
	header, _, _ := bytes.Cut(exported.Bytes(), []byte("\n"))
	_, tr, ok := bytes.Cut(header, []byte(`"trail":`))
	require.True(b, ok, "a remediation's bundle carries its trail")
	f.trailBytes = len(tr) - 1
	return f
}

func (f treeFigures) report(b *testing.B) {
	b.ReportMetric(f.integrateRate, "tree_integrate_leaves/s")
	b.ReportMetric(f.verifyRate, "verify_with_tree_events/s")
	b.ReportMetric(f.publish.Seconds(), "tree_first_publish_s")
	b.ReportMetric(float64(f.proofBytes), "proof_bytes")
	b.ReportMetric(f.exportRate, "export_events/s")
	b.ReportMetric(f.bundleCheckRate, "verify_bundle_events/s")
	b.ReportMetric(f.bundleBytesPerEvent, "bundle_bytes/event")
	b.ReportMetric(float64(f.trailBytes), "trail_proof_bytes")
	b.ReportMetric(f.trailVerify.Seconds()*1000, "trail_verify_ms")
	b.Logf("tree: %d leaves integrated (with the trail index of %d correlation ids, and signed) at %.0f leaves/s, then published with every full tile in %s; whole verify with the tree and the index rebuilt %.0f events/s, 0 findings; a proof at that size %d bytes; an hour's export (%d events) %.0f events/s, %.0f bytes/event, checked at %.0f events/s; a remediation's trail shown complete in %s, its proof %d bytes of the bundle header",
		f.leaves, f.trails, f.integrateRate, f.publish.Round(time.Millisecond), f.verifyRate, f.proofBytes, f.exported, f.exportRate, f.bundleBytesPerEvent, f.bundleCheckRate,
		f.trailVerify.Round(time.Millisecond), f.trailBytes)
}
