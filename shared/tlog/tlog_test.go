package tlog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdb "golang.org/x/mod/sumdb/note"
	reftlog "golang.org/x/mod/sumdb/tlog"

	"function/shared/auditstore"
	"function/shared/tlog"
	"function/test/fixtures"
	"function/test/testenv"
)

// testSigner signs checkpoints with a fresh key.
func testSigner(t *testing.T) *tlog.Signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := tlog.NewSigner("auditfn.test/log", pub, func(m []byte) []byte { return ed25519.Sign(priv, m) })
	require.NoError(t, err)
	return s
}

func TestTilePathsAreC2SP(t *testing.T) {
	assert.Equal(t, "tile/0/000", tlog.TilePath(0, 0, 256))
	assert.Equal(t, "tile/0/x001/x234/067", tlog.TilePath(0, 1234067, 256))
	assert.Equal(t, "tile/2/x001/000.p/7", tlog.TilePath(2, 1000, 7))
	for _, bad := range []string{"tile/0/1", "tile/0/x000/001", "tile/0/001.p/256", "tile/0/001.p/07", "tile/00/001", "tile/0/001/002", "x/0/000", "tile/0"} {
		_, _, _, err := tlog.ParseTilePath(bad)
		assert.Error(t, err, bad)
	}
}

// ParseTilePath reads back exactly the paths TilePath writes.
func FuzzTilePath(f *testing.F) {
	f.Add(uint8(0), uint64(1234067), 256)
	f.Add(uint8(2), uint64(1000), 7)
	f.Fuzz(func(t *testing.T, level uint8, idx uint64, width int) {
		if width < 1 || width > 256 || idx > 1<<50 {
			return
		}
		p := tlog.TilePath(uint64(level), idx, width)
		l, i, w, err := tlog.ParseTilePath(p)
		if err != nil || l != uint64(level) || i != idx || w != width {
			t.Fatalf("%s: %d %d %d %v", p, l, i, w, err)
		}
	})
}

// leaves are the event hashes of the database in ledger order.
func leaves(t *testing.T, pool *pgxpool.Pool) [][]byte {
	rows, err := pool.Query(context.Background(), `SELECT event_hash FROM audit.audit_events ORDER BY ledger_seq, ledger_pos`)
	require.NoError(t, err)
	hs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	require.NoError(t, err)
	return hs
}

// refRoot is the root by golang.org/x/mod/sumdb/tlog, an RFC 6962
// implementation that shares no code with the tree's.
func refRoot(t *testing.T, eventHashes [][]byte, n int) []byte {
	stored := make([]reftlog.Hash, 0, 2*n)
	for i := 0; i < n; i++ {
		hs, err := reftlog.StoredHashes(int64(i), eventHashes[i], reftlog.HashReaderFunc(func(idx []int64) ([]reftlog.Hash, error) {
			out := make([]reftlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		require.NoError(t, err)
		stored = append(stored, hs...)
	}
	root, err := reftlog.TreeHash(int64(n), reftlog.HashReaderFunc(func(idx []int64) ([]reftlog.Hash, error) {
		out := make([]reftlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	}))
	require.NoError(t, err)
	return root[:]
}

// write stores n small flows, one commit each.
func write(t *testing.T, w *auditstore.Writer, tag string, n int) {
	for i := 0; i < n; i++ {
		_, err := w.Write(context.Background(), fixtures.Flow(fmt.Sprintf("rr-%s-%d", tag, i), time.Now()))
		require.NoError(t, err)
	}
}

// The tree integrated in small steps, across tile boundaries, has the
// reference implementation's root at every step, and its stored tiles
// give inclusion and consistency proofs that verify.
func TestTheTreeMatchesAnIndependentImplementation(t *testing.T) {
	_, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	s := testSigner(t)
	var sizes []uint64
	var roots [][]byte
	for round, flows := range []int{1, 3, 40, 7, 90} {
		write(t, w, fmt.Sprint(round), flows)
		for {
			h, err := tlog.Integrate(ctx, pool, s, 37) // several steps per round, tiles grown in place
			require.NoError(t, err)
			if len(sizes) > 0 && h.Size == sizes[len(sizes)-1] {
				break
			}
			sizes, roots = append(sizes, h.Size), append(roots, h.Root)
		}
	}
	all := leaves(t, pool)
	require.Greater(t, len(all), 2*tlog.TileWidth, "the test spans more than two level-0 tiles")
	require.EqualValues(t, len(all), sizes[len(sizes)-1], "every event is in the tree")
	for i, n := range sizes {
		require.Equal(t, refRoot(t, all, int(n)), roots[i], "root at size %d", n)
	}

	size, root := sizes[len(sizes)-1], roots[len(roots)-1]
	for _, idx := range []uint64{0, 1, 255, 256, 257, 511, 512, size - 2, size - 1} {
		p, err := tlog.Inclusion(ctx, pool, idx, size)
		require.NoError(t, err)
		require.NoError(t, proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, tlog.LeafHash(all[idx]), p, root), "leaf %d", idx)
	}
	for i := range sizes[:len(sizes)-1] {
		p, err := tlog.Consistency(ctx, pool, sizes[i], size)
		require.NoError(t, err)
		require.NoError(t, proof.VerifyConsistency(rfc6962.DefaultHasher, sizes[i], size, p, roots[i], root), "%d → %d", sizes[i], size)
	}
}

// A checkpoint is a C2SP signed note the standard parser accepts with the
// verifier key alone.
func TestACheckpointIsAStandardSignedNote(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := tlog.NewSigner("auditfn.example/log", pub, func(m []byte) []byte { return ed25519.Sign(priv, m) })
	require.NoError(t, err)
	root := rfc6962.DefaultHasher.HashLeaf([]byte("x"))
	cp, err := s.Checkpoint(tlog.Head{Size: 1, Root: root}, time.Now())
	require.NoError(t, err)

	v, err := sumdb.NewVerifier(s.VerifierKey)
	require.NoError(t, err)
	parsed, _, _, err := log.ParseCheckpoint(cp.Note, "auditfn.example/log", v)
	require.NoError(t, err)
	assert.EqualValues(t, 1, parsed.Size)
	assert.Equal(t, root, parsed.Hash)

	other, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ov, err := sumdb.NewEd25519VerifierKey("auditfn.example/log", other)
	require.NoError(t, err)
	v2, err := sumdb.NewVerifier(ov)
	require.NoError(t, err)
	_, _, _, err = log.ParseCheckpoint(cp.Note, "auditfn.example/log", v2)
	require.Error(t, err, "another key does not verify it")
}

// The tree does not commit to events that no longer match their ledger
// batch: integration stops at the batch and names it.
func TestIntegrationStopsAtABatchWhoseEventsWereAltered(t *testing.T) {
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	write(t, w, "a", 2)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica; DELETE FROM audit.audit_events WHERE ledger_seq = 2 AND ledger_pos = 1`)
	require.NoError(t, err)
	s := testSigner(t)
	_, err = tlog.CatchUp(ctx, pool, s)
	require.ErrorIs(t, err, tlog.ErrLedger)
	require.ErrorContains(t, err, "batch 2")
	require.Zero(t, db.Count(t, "audit.tree_batches"), "a failed integration stores nothing")
	h, err := tlog.Integrate(ctx, pool, s, 1)
	require.NoError(t, err, "batch 1 is intact")
	require.EqualValues(t, 1, h.Seq)
	_, err = tlog.Integrate(ctx, pool, s, 1)
	require.ErrorIs(t, err, tlog.ErrLedger)
	require.EqualValues(t, 1, db.Count(t, "audit.tree_batches"), "batch 1 is in the tree, batch 2 is not")
}
