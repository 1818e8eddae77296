package tlog_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/require"
	sumdb "golang.org/x/mod/sumdb/note"

	"function/shared/auditstore"
	"function/shared/tlog"
	"function/shared/trail"
	"function/test/fixtures"
	"function/test/testenv"
)

type stored struct {
	correlationID string
	hash          []byte
}

// events are the stored events in tree order.
func events(t *testing.T, pool *pgxpool.Pool) []stored {
	rows, err := pool.Query(context.Background(), `SELECT correlation_id, event_hash FROM audit.audit_events ORDER BY ledger_seq, ledger_pos`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var s stored
		return s, r.Scan(&s.correlationID, &s.hash)
	})
	require.NoError(t, err)
	return out
}

// referenceTrails is the index of the first n events, built in memory
// from the events alone; and each trail's entry.
func referenceTrails(t *testing.T, all []stored, n uint64) ([]byte, map[string]trail.Entry) {
	entries := map[string]trail.Entry{}
	for i, e := range all[:n] {
		entries[e.correlationID] = entries[e.correlationID].Extend(uint64(i), e.hash)
	}
	m := trail.Open(simplemap.NewSimpleMap(), nil)
	for id, e := range entries {
		require.NoError(t, m.Update([]byte(id), e.Encode()))
	}
	require.NoError(t, m.Commit())
	return m.Root(), entries
}

// checkpointTrails is each stored checkpoint's size and the trail root its
// verified note commits to.
func checkpointTrails(t *testing.T, pool *pgxpool.Pool, s *tlog.Signer) map[uint64][]byte {
	ctx := context.Background()
	cps, err := tlog.Checkpoints(ctx, pool, 0, 1<<62)
	require.NoError(t, err)
	v, err := sumdb.NewVerifier(s.VerifierKey)
	require.NoError(t, err)
	out := map[uint64][]byte{}
	for _, cp := range cps {
		_, _, err := tlog.Open(cp.Note, s.Name(), []sumdb.Verifier{v})
		require.NoError(t, err)
		root, err := tlog.TrailsRoot(cp.Note)
		if !errors.Is(err, trail.ErrNoLine) {
			require.NoError(t, err, "checkpoint %d", cp.Size)
			out[cp.Size] = root
		}
	}
	return out
}

// Every checkpoint commits to the index its first events make, and the
// stored index proves each trail's entry, or its absence, at the newest.
func TestEveryCheckpointCommitsToTheTrailsOfItsEvents(t *testing.T) {
	_, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	s := testSigner(t)
	for round, flows := range []int{1, 5, 12} {
		write(t, w, "same", flows) // rr-same-0… gain events every round
		write(t, w, fmt.Sprint(round), 3)
		for {
			h, err := tlog.Integrate(ctx, pool, s, 29)
			require.NoError(t, err)
			if h.Size == uint64(len(events(t, pool))) {
				break
			}
		}
	}
	all := events(t, pool)
	cps := checkpointTrails(t, pool, s)
	require.Greater(t, len(cps), 5, "several checkpoints")
	for size, root := range cps {
		want, _ := referenceTrails(t, all, size)
		require.Equal(t, want, root, "checkpoint %d", size)
	}

	newest, err := tlog.Latest(ctx, pool)
	require.NoError(t, err)
	root, err := tlog.TrailsRoot(newest.Note)
	require.NoError(t, err)
	_, entries := referenceTrails(t, all, newest.Size)
	tlog.ForgetCachedNodes() // read from the rows, as the query API does
	for _, id := range []string{"rr-same-0", "rr-same-11", "rr-2-1"} {
		got, p, err := tlog.TrailProof(ctx, pool, root, id)
		require.NoError(t, err)
		require.NotNil(t, got, id)
		require.Equal(t, entries[id], *got, id)
		require.NoError(t, p.Verify(root, id, got), id)
	}
	require.EqualValues(t, 3*len(fixtures.FlowTypes()), entries["rr-same-0"].Count, "rr-same-0 has a flow per round")
	got, p, err := tlog.TrailProof(ctx, pool, root, "rr-none")
	require.NoError(t, err)
	require.Nil(t, got)
	require.NoError(t, p.Verify(root, "rr-none", nil))
}

// integrated is a database of flows flows, integrated and signed.
func integrated(t *testing.T, tag string, flows int) (testenv.DB, *pgxpool.Pool, *auditstore.Writer, *tlog.Signer, tlog.Head) {
	db, pool, w := testenv.NewWriter(t)
	s := testSigner(t)
	write(t, w, tag, flows)
	head, err := tlog.CatchUp(context.Background(), pool, s)
	require.NoError(t, err)
	return db, pool, w, s, head
}

// The integrator does not sign an index altered in the database: neither a
// head whose root is not the newest checkpoint's, nor a node row altered
// under its digest.
func TestTheIntegratorRefusesAnAlteredIndex(t *testing.T) {
	ctx := context.Background()
	db, pool, w, s, _ := integrated(t, "x", 4)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	before := db.Count(t, "audit.tree_checkpoints")

	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		CREATE TABLE saved AS SELECT trails FROM audit.tree_head;
		UPDATE audit.tree_head SET trails = sha256('forged')`)
	require.NoError(t, err)
	write(t, w, "x", 1)
	_, err = tlog.CatchUp(ctx, pool, s)
	require.ErrorIs(t, err, tlog.ErrLedger)
	require.ErrorContains(t, err, "trail index")
	_, err = admin.Exec(ctx, `UPDATE audit.tree_head SET trails = (SELECT trails FROM saved)`)
	require.NoError(t, err)

	// rr-x-0's leaf node: its value's count lowered, its digest kept.
	path := sha256.Sum256([]byte("rr-x-0"))
	tag, err := admin.Exec(ctx, `UPDATE audit.trail_nodes SET node = overlay(node PLACING '\x01'::bytea FROM 41 FOR 1)
		WHERE substring(node FROM 1 FOR 33) = '\x00'::bytea || $1::bytea`, path[:])
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	tlog.ForgetCachedNodes()
	write(t, w, "x", 1) // rr-x-0 again
	_, err = tlog.CatchUp(ctx, pool, s)
	require.ErrorIs(t, err, tlog.ErrLedger)
	require.ErrorContains(t, err, "not the node of that digest")
	require.Equal(t, before, db.Count(t, "audit.tree_checkpoints"), "nothing was signed")
}

// An installation whose tree was built before the index existed (its
// checkpoints carry no trail line) indexes those leaves first.
func TestATreeBuiltBeforeTheIndexIsIndexedFirst(t *testing.T) {
	ctx := context.Background()
	db, pool, w, s, head := integrated(t, "old", 30)
	old, err := s.Checkpoint(tlog.Head{Size: head.Size, Root: head.Root}, time.Now())
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.tree_head SET trails = '\x0000000000000000000000000000000000000000000000000000000000000000', trail_seq = 0;
		DELETE FROM audit.trail_nodes; DELETE FROM audit.tree_checkpoints`)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `INSERT INTO audit.tree_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, now())`, old.Size, old.Root, old.Note)
	require.NoError(t, err)
	_, err = tlog.TrailsRoot(old.Note)
	require.ErrorIs(t, err, trail.ErrNoLine)
	tlog.ForgetCachedNodes()

	// Indexed at once, the tree not grown: its one checkpoint stays.
	head, err = tlog.CatchUp(ctx, pool, s)
	require.NoError(t, err)
	require.Equal(t, old.Size, head.Size)
	require.EqualValues(t, 1, db.Count(t, "audit.tree_checkpoints"))
	want, _ := referenceTrails(t, events(t, pool), head.Size)
	require.Equal(t, want, head.Trails)

	write(t, w, "new", 2)
	head, err = tlog.CatchUp(ctx, pool, s)
	require.NoError(t, err)
	all := events(t, pool)
	require.EqualValues(t, len(all), head.Size)
	want, _ = referenceTrails(t, all, head.Size)
	require.Equal(t, want, head.Trails, "the old leaves and the new are indexed")
	require.Equal(t, want, checkpointTrails(t, pool, s)[head.Size])
}
