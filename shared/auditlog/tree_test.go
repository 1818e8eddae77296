package auditlog_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/auditlog"
	"function/shared/integrity"
	"function/shared/tlog"
	"function/shared/verify"
)

// treeEnv is a log of hot and archived days whose tree is integrated and
// checkpointed, as the collector's publisher does it.
func treeEnv(t *testing.T) (*archivetest.Env, *auditlog.Log, *tlog.Publisher) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(10), 300)
	e.Seed(t, archivetest.DaysAgo(2), 200)
	pub, err := archive.TreePublisher(ctx, e.Pool, e.Config(), nil)
	require.NoError(t, err)
	pub.Retention = 24 * time.Hour // the test bucket's objects: the 1-day minimum
	_, err = pub.Step(ctx)
	require.NoError(t, err)
	_, err = e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	e.Seed(t, archivetest.DaysAgo(1), 100)
	head, err := pub.Step(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 600, head.Size)
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(t, err)
	return e, log, pub
}

func TestTheTreeVerifiesOverHotAndArchivedEvents(t *testing.T) {
	e, log, _ := treeEnv(t)
	ctx := context.Background()
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, 2, rep.TreeCheckpoints, "both signed checkpoints are checked")
	assert.Equal(t, 600, rep.EventsChecked)

	rep, err = log.Verify(ctx, verify.Scope{Date: archivetest.DaysAgo(10)})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, 2, rep.TreeCheckpoints, "the newest and the one before")

	// An archived event's proof, from the cold tier, checks.
	cold := e.ArchivedRecords(t, archivetest.DaysAgo(10))[7]
	text, _, err := log.Proof(ctx, cold.ID, "")
	require.NoError(t, err)
	var p tproof.TLogProof
	require.NoError(t, p.Unmarshal(text))
	size, root, err := tlog.Open(p.Checkpoint, e.Config().Origin, verifiers(t, e, e.Config().Origin))
	require.NoError(t, err)
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	require.NoError(t, proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, size, tlog.LeafHash(cold.Hash), hashes, root))
	_, _, err = log.Proof(ctx, uuid.New(), "")
	require.ErrorIs(t, err, auditlog.ErrNoEvent)
}

// The tamper matrix of the tree: each case is named, through the whole
// verify and a scoped one.
func TestTamperingWithTheTreeIsNamed(t *testing.T) {
	ctx := context.Background()
	admin := func(t *testing.T, e *archivetest.Env, sql string, args ...any) {
		conn, err := pgx.Connect(ctx, e.DB.AdminDSN)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "SET session_replication_role = replica", nil...)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	kinds := func(rep verify.Report) []verify.Kind {
		var out []verify.Kind
		for _, f := range rep.Findings {
			out = append(out, f.Kind)
		}
		return out
	}

	t.Run("a ledger rewritten below a signed checkpoint", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		// The newest batch's last event changed, and its hash, the batch's
		// digest and hash recomputed: the chain is consistent again.
		day := archivetest.DaysAgo(1)
		recs := e.HotRecords(t, day)
		victim := recs[len(recs)-1]
		victim.Outcome = "failure"
		victim.Hash = integrity.EventHash(&victim)
		var hashes [][]byte
		for _, r := range recs[:len(recs)-1] {
			hashes = append(hashes, r.Hash)
		}
		b := integrity.Batch{Seq: victim.LedgerSeq, EventCount: len(recs), EventsDigest: integrity.EventsDigest(append(hashes, victim.Hash)),
			CommittedAt: victim.ReceivedAt}
		var prev []byte
		conn, err := pgx.Connect(ctx, e.DB.AdminDSN)
		require.NoError(t, err)
		require.NoError(t, conn.QueryRow(ctx, `SELECT prev_hash FROM audit.ledger WHERE seq = $1`, b.Seq).Scan(&prev))
		conn.Close(ctx)
		b.PrevHash = prev
		integrity.Seal(&b)
		admin(t, e, `UPDATE audit.audit_events SET event_outcome = 'failure', event_hash = $1 WHERE event_id = $2`, victim.Hash, victim.ID)
		admin(t, e, `UPDATE audit.ledger SET events_digest = $1, batch_hash = $2 WHERE seq = $3`, b.EventsDigest, b.Hash, b.Seq)

		rep, err := log.Verify(ctx, verify.Scope{})
		require.NoError(t, err)
		require.Equal(t, []verify.Kind{verify.TreeLeaf, verify.TrailIndex}, kinds(rep), "%+v", rep.Findings)
		assert.Equal(t, victim.ID.String(), rep.Findings[0].EventID)
		assert.Equal(t, "audit_events/_tlog/checkpoints/00000000000000000600", rep.Findings[1].Object,
			"the index rebuilt from the events differs from the one checkpoint 600 signed")
		rep, err = log.Verify(ctx, verify.Scope{CorrelationID: victim.CorrelationID})
		require.NoError(t, err)
		require.ElementsMatch(t, []verify.Kind{verify.TreeLeaf, verify.TrailIncomplete}, kinds(rep), "%+v", rep.Findings)
		assert.False(t, rep.Trail.Complete)
		for _, f := range rep.Findings {
			assert.True(t, f.Trail, "%+v concerns the trail", f)
			if f.Kind == verify.TreeLeaf {
				assert.Equal(t, victim.ID.String(), f.EventID)
			}
		}
	})

	t.Run("a leaf overwritten in a stored tile", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		admin(t, e, `UPDATE audit.tree_tiles SET hashes = overlay(hashes PLACING sha256('x') FROM 33 FOR 32) WHERE level = 0 AND idx = 1`)
		rep, err := log.Verify(ctx, verify.Scope{})
		require.NoError(t, err)
		assert.Contains(t, kinds(rep), verify.TreeLeaf, "the event at leaf 257 is named")
		assert.Contains(t, kinds(rep), verify.TreeAltered, "the tree no longer hashes to the checkpoints")
		// The day holding leaf 257: its leaves are checked against their
		// tiles, and each tile once by its inclusion.
		rep, err = log.Verify(ctx, verify.Scope{Date: archivetest.DaysAgo(10)})
		require.NoError(t, err)
		var objects []string
		for _, f := range rep.Findings {
			objects = append(objects, f.Object)
		}
		assert.Contains(t, kinds(rep), verify.TreeLeaf, "%+v", rep.Findings)
		assert.Contains(t, objects, "audit_events/_tlog/tile/0/001", "the tile is named")
		assert.Contains(t, objects, "audit_events/_tlog/checkpoints/00000000000000000600", "and the consistency proof through it fails")
	})

	t.Run("a tile overwritten in the bucket", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		key := "audit_events/_tlog/tile/0/001"
		// A locked key can gain a version, which a reader of the key gets.
		forged := e.Get(t, key)
		forged[40] ^= 1
		_, err := e.Bucket.Client(t).PutObject(ctx, e.Bucket.Name, key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{})
		require.NoError(t, err)
		rep, err := log.Verify(ctx, verify.Scope{})
		require.NoError(t, err)
		require.Equal(t, []verify.Kind{verify.TreeAltered}, kinds(rep), "%+v", rep.Findings)
		assert.Equal(t, key, rep.Findings[0].Object)
	})

	t.Run("the tree cut below a signed checkpoint", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		admin(t, e, `UPDATE audit.tree_head SET size = 10`)
		rep, err := log.Verify(ctx, verify.Scope{CorrelationID: "x"})
		require.NoError(t, err)
		assert.Equal(t, []verify.Kind{verify.TreeTruncated}, kinds(rep))
	})

	t.Run("a checkpoint forked in the bucket", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		key := "audit_events/_tlog/checkpoints/00000000000000000600"
		// A second version at the same key (a locked object can gain one),
		// another root at the same size.
		other := strings.Replace(string(e.Get(t, key)), "\n600\n", "\n600\nextra\n", 1)
		_, err := e.Bucket.Client(t).PutObject(ctx, e.Bucket.Name, key, strings.NewReader(other), int64(len(other)), minio.PutObjectOptions{})
		require.NoError(t, err)
		for _, s := range []verify.Scope{{}, {Date: archivetest.DaysAgo(1)}} {
			rep, err := log.Verify(ctx, s)
			require.NoError(t, err)
			require.Equal(t, []verify.Kind{verify.TreeCheckpoint}, kinds(rep), "%+v", rep.Findings)
			assert.Equal(t, key, rep.Findings[0].Object)
		}
	})

	t.Run("the database's newest checkpoints removed", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		admin(t, e, `DELETE FROM audit.tree_checkpoints WHERE size = 600`)
		rep, err := log.Verify(ctx, verify.Scope{Date: archivetest.DaysAgo(1)})
		require.NoError(t, err)
		assert.Contains(t, kinds(rep), verify.TreeTruncated, "the bucket's newest is larger")
		rep, err = log.Verify(ctx, verify.Scope{})
		require.NoError(t, err)
		assert.Contains(t, kinds(rep), verify.TreeTruncated)
	})

	t.Run("a forged checkpoint", func(t *testing.T) {
		e, log, _ := treeEnv(t)
		admin(t, e, `UPDATE audit.tree_checkpoints SET note = convert_to(replace(convert_from(note, 'UTF8'), E'\n600\n', E'\n601\n'), 'UTF8') WHERE size = 600`)
		rep, err := log.Verify(ctx, verify.Scope{Date: archivetest.DaysAgo(1)})
		require.NoError(t, err)
		assert.Contains(t, kinds(rep), verify.TreeCheckpoint)
	})
}

// A downloaded copy of the bucket checks the tree with no database: every
// checkpoint's signature, and the roots the copy's full tiles reach.
func TestADownloadedCopyChecksTheTree(t *testing.T) {
	e, _, _ := treeEnv(t)
	dir := t.TempDir()
	for _, key := range e.Keys(t, "audit_events/") {
		p := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, e.Get(t, key), 0o644))
	}
	check := func() verify.Report {
		rep, err := verify.Offline(verify.Dir(os.DirFS(dir), dir)).Verify(context.Background(), verify.Scope{})
		require.NoError(t, err)
		return rep
	}
	rep := check()
	require.Empty(t, rep.Findings)
	require.Equal(t, 2, rep.TreeCheckpoints)
	require.Equal(t, 300, rep.EventsChecked, "the archived day")
	assert.Equal(t, 300, rep.TreeEvents, "every archived event is at its leaf, under checkpoint 500")

	tile := filepath.Join(dir, "audit_events/_tlog/tile/0/001")
	b, err := os.ReadFile(tile)
	require.NoError(t, err)
	b[40] ^= 1
	require.NoError(t, os.WriteFile(tile, b, 0o644))
	rep = check()
	require.Len(t, rep.Findings, 2, "%+v", rep.Findings)
	assert.Equal(t, verify.TreeAltered, rep.Findings[0].Kind, "checkpoint 500's root, from leaves 0..499")
	assert.Equal(t, "audit_events/_tlog/checkpoints/00000000000000000500", rep.Findings[0].Object)
	assert.Equal(t, verify.TreeLeaf, rep.Findings[1].Kind, "and the archived event at leaf 257 is not in the tree")
	for _, r := range e.ArchivedRecords(t, archivetest.DaysAgo(10)) {
		if r.LedgerSeq == 1 && r.LedgerPos == 257 {
			assert.Equal(t, r.ID.String(), rep.Findings[1].EventID)
		}
	}

	cp := filepath.Join(dir, "audit_events/_tlog/checkpoints/00000000000000000600")
	b, err = os.ReadFile(cp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cp, []byte(strings.Replace(string(b), "\n600\n", "\n601\n", 1)), 0o644))
	rep = check()
	assert.Contains(t, []verify.Kind{rep.Findings[0].Kind, rep.Findings[len(rep.Findings)-1].Kind}, verify.TreeCheckpoint)
}
