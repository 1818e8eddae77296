package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore/simplemap"

	"function/archive/format"
	"function/shared/integrity"
	"function/shared/tlog"
	"function/shared/trail"
)

// Trail is what a correlation-scoped verification says of the trail
// itself (docs/integrity.md §9): complete when the newest checkpoint's
// trail index proves that the tree holds exactly the events found, each
// intact. Findings marked trail concern it; the others are damage
// elsewhere.
type Trail struct {
	CorrelationID string `json:"correlationId"`
	Complete      bool   `json:"complete"`
	// Events is how many of its events the checkpoint covers and were
	// found; Committed how many the checkpoint commits to.
	Events    int    `json:"events"`
	Committed uint64 `json:"committed"`
	// Pending is how many were found that are newer than the checkpoint:
	// the next one covers them.
	Pending    int    `json:"pending"`
	Checkpoint uint64 `json:"checkpoint"` // its size
}

// trailEvent is an event of the scope's trail, as found.
type trailEvent struct {
	seq  int64
	pos  int32
	id   uuid.UUID
	hash [integrity.HashSize]byte // recomputed
}

// trailUpdate is one leaf for the index rebuild.
type trailUpdate struct {
	leaf uint64
	corr string
	hash [integrity.HashSize]byte
}

// trailRebuild rebuilds the trail index from the events in tree order and
// compares its root with every checkpoint's. It stops, silently, at the
// first leaf it cannot have (a damaged or missing batch: the chain reports
// that), and after the first root that differs.
type trailRebuild struct {
	cps     []tlog.Checkpoint // those with a trail line, ascending
	roots   [][]byte
	next    int
	m       *smt.SMT
	entries map[string]trail.Entry
	dirty   map[string]bool
	size    uint64 // leaves applied
	stopped bool
	fs      findings
}

func newTrailRebuild(all []tlog.Checkpoint) *trailRebuild {
	r := &trailRebuild{m: trail.Open(simplemap.NewSimpleMap(), nil), entries: map[string]trail.Entry{}, dirty: map[string]bool{}}
	for _, cp := range all {
		root, err := tlog.TrailsRoot(cp.Note)
		if errors.Is(err, trail.ErrNoLine) {
			continue // signed before the index existed
		}
		if err != nil {
			r.fs.object(TrailIndex, format.TreeCheckpointKey(cp.Size), "tree checkpoint %d: %v", cp.Size, err)
			continue
		}
		r.cps, r.roots = append(r.cps, cp), append(r.roots, root)
	}
	return r
}

// span applies one span's intact leaves; stop is its first damaged leaf.
func (r *trailRebuild) span(updates []trailUpdate, stop uint64) {
	for _, u := range updates {
		if r.stopped || u.leaf != r.size || u.leaf >= stop {
			r.stopped = true
			return
		}
		r.compare()
		r.entries[u.corr] = r.entries[u.corr].Extend(u.leaf, u.hash[:])
		r.dirty[u.corr] = true
		r.size++
	}
	if stop <= r.size {
		r.stopped = true
	}
}

// compare checks the checkpoints of the size reached.
func (r *trailRebuild) compare() {
	for ; r.next < len(r.cps) && r.cps[r.next].Size <= r.size && !r.stopped; r.next++ {
		cp := r.cps[r.next]
		if cp.Size < r.size {
			continue // not on a batch boundary: not a checkpoint the integrator signed
		}
		for id := range r.dirty {
			if err := r.m.Update([]byte(id), r.entries[id].Encode()); err != nil {
				r.fs.object(TrailIndex, format.TreeCheckpointKey(cp.Size), "rebuilding the trail index: %v", err)
				r.stopped = true
				return
			}
		}
		clear(r.dirty)
		if root := r.m.Root(); !slices.Equal(root, r.roots[r.next]) {
			r.fs.object(TrailIndex, format.TreeCheckpointKey(cp.Size),
				"checkpoint %d commits to a trail index its %d events do not make (later checkpoints were not compared)", cp.Size, cp.Size)
			r.stopped = true
		}
	}
}

// finish compares the checkpoints at the end of the leaves.
func (r *trailRebuild) finish(fs *findings) {
	r.compare()
	*fs = append(*fs, r.fs...)
}

// trailAnchor is the newest checkpoint and what its trail index holds for
// the scope's correlation id, read in one snapshot.
type trailAnchor struct {
	root  []byte       // the index root the checkpoint commits to
	entry *trail.Entry // nil: none
	proof trail.Proof
	err   error // the checkpoint commits to no index, or the rows do not make the proof
}

func readTrailAnchor(ctx context.Context, tx pgx.Tx, newest tlog.Checkpoint, id string) trailAnchor {
	var a trailAnchor
	if a.root, a.err = tlog.TrailsRoot(newest.Note); a.err != nil {
		return a
	}
	a.entry, a.proof, a.err = tlog.TrailProof(ctx, tx, a.root, id)
	return a
}

// checkTrail checks the trail's events found against the entry the newest
// checkpoint (already verified) commits to, and returns the leaves of
// those it covers, for their inclusion proofs.
func (v *Verifier) checkTrail(ctx context.Context, newest tlog.Checkpoint, id string, a trailAnchor, found []trailEvent, fs *findings) (*Trail, []leaf, error) {
	t := &Trail{CorrelationID: id, Checkpoint: newest.Size}
	key := format.TreeCheckpointKey(newest.Size)
	if a.err == nil {
		a.err = a.proof.Verify(a.root, id, a.entry)
	}
	if a.err != nil {
		fs.object(TrailIndex, key, "the trail index does not show what checkpoint %d holds for %s: %v", newest.Size, id, a.err)
	}
	seqs := make([]int64, len(found))
	for i, e := range found {
		seqs[i] = e.seq
	}
	firsts, err := tlog.FirstLeaves(ctx, v.pool, seqs)
	if err != nil {
		return nil, nil, err
	}
	var leaves []leaf
	var idxs []uint64
	var hashes [][]byte
	for _, e := range found {
		first, ok := firsts[e.seq]
		if !ok || first+uint64(e.pos) >= newest.Size {
			t.Pending++
			continue
		}
		l := leaf{index: first + uint64(e.pos), hash: tlog.LeafHash(e.hash[:]), seq: e.seq, id: e.id}
		leaves, idxs, hashes = append(leaves, l), append(idxs, l.index), append(hashes, e.hash[:])
	}
	got := trail.Of(idxs, hashes)
	t.Events = len(leaves)
	want := trail.Entry{}
	if a.entry != nil {
		want = *a.entry
	}
	t.Committed = want.Count
	if a.err == nil && got != want {
		fs.object(TrailIncomplete, key, "%s", v.incomplete(ctx, id, newest.Size, want, got))
	}
	return t, leaves, nil
}

// incomplete says how the trail found differs from the one committed, and
// names what sits at the committed newest leaf when it was not found.
func (v *Verifier) incomplete(ctx context.Context, id string, size uint64, want, got trail.Entry) string {
	msg := fmt.Sprintf("checkpoint %d commits to %d events of %s, the newest at leaf %d; %d found in the tree", size, want.Count, id, want.Last, got.Count)
	if want.Count == got.Count {
		msg += ", but not the ones committed to"
	}
	if want.Count == 0 || got.Last == want.Last {
		return msg + ": events deleted, moved or hidden"
	}
	var seq int64
	var first uint64
	err := v.pool.QueryRow(ctx, `SELECT seq, first_leaf FROM audit.tree_batches WHERE first_leaf <= $1 ORDER BY first_leaf DESC LIMIT 1`, want.Last).Scan(&seq, &first)
	if err != nil {
		return msg + fmt.Sprintf("; leaf %d is in no batch the tree lists", want.Last)
	}
	var eventID, corr string
	err = v.pool.QueryRow(ctx, `SELECT event_id::text, correlation_id FROM audit.audit_events WHERE ledger_seq = $1 AND ledger_pos = $2`, seq, int32(want.Last-first)).Scan(&eventID, &corr)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return msg + fmt.Sprintf("; no event is stored at its newest leaf %d (batch %d, position %d): deleted, or archived elsewhere", want.Last, seq, want.Last-first)
	case err != nil:
		return msg
	case corr == id:
		return msg + fmt.Sprintf("; its newest leaf %d holds event %s, not found at that place", want.Last, eventID)
	default:
		return msg + fmt.Sprintf("; its newest leaf %d holds event %s, which now says correlation id %q: moved", want.Last, eventID, corr)
	}
}
