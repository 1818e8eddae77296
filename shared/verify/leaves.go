package verify

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/integrity"
	"function/shared/tlog"
)

// leaf is an event's place in the tree and its leaf hash, recomputed from
// its content.
type leaf struct {
	index uint64
	hash  []byte
	seq   int64
	id    uuid.UUID
}

// leafMode is what leafCheck does with an intact batch's leaves.
type leafMode int

const (
	// leavesCompared, over the whole log: each recomputed leaf is compared
	// with the stored level-0 tile, and kept for the trail index rebuild.
	leavesCompared leafMode = iota
	// leavesKept, in a day's scope: kept for inclusion proofs against the
	// newest checkpoint.
	leavesKept
	// leavesPlaced, in a correlation scope: only the batches' places are
	// checked; the trail's own events are proved apart.
	leavesPlaced
)

// leafCheck checks, for one span, that each batch's events sit in the tree
// where tree_batches puts them (docs/integrity.md §7).
type leafCheck struct {
	head     int64             // the last batch the tree holds
	mode     leafMode          // what to do with an intact batch
	first    map[int64]uint64  // the span's batches' first leaves
	tiles    map[uint64][]byte // leavesCompared: the span's level-0 tiles
	leaves   []leaf            // leavesKept
	indexing bool              // leavesCompared: keep the intact leaves for the index rebuild
	updates  []trailUpdate     // in order
	stop     uint64            // leavesCompared: the first leaf of a damaged batch
}

// load reads the tree's places of batches, and when comparing their
// level-0 tiles.
func (l *leafCheck) load(ctx context.Context, pool *pgxpool.Pool, batches []integrity.Batch) error {
	seqs, counts := make([]int64, len(batches)), map[int64]int{}
	for i, b := range batches {
		seqs[i], counts[b.Seq] = b.Seq, b.EventCount
	}
	var err error
	if l.first, err = tlog.FirstLeaves(ctx, pool, seqs); err != nil {
		return err
	}
	if l.mode != leavesCompared {
		return nil
	}
	need := map[uint64]bool{}
	for s, f := range l.first {
		for i := f / tlog.TileWidth; i <= (f+uint64(counts[s])-1)/tlog.TileWidth; i++ {
			need[i] = true
		}
	}
	idxs := make([]uint64, 0, len(need))
	for i := range need {
		idxs = append(idxs, i)
	}
	l.tiles, err = tlog.LeafTiles(ctx, pool, idxs)
	return err
}

// batch checks one batch whose events (ids, recomputed hashes, correlation
// ids) are complete; prev is the batch before it, when loaded.
func (l *leafCheck) batch(b, prev *integrity.Batch, ids []uuid.UUID, hashes [][]byte, corrs []string, fs *findings) {
	first, ok := l.first[b.Seq]
	if !ok {
		if b.Seq <= l.head {
			fs.batch(TreeBatch, b.Seq, "batch %d is below the tree's head (batch %d) but has no place in the tree", b.Seq, l.head)
		}
		return
	}
	if pf, ok := l.first[prev.Seq]; ok && prev.Seq == b.Seq-1 && pf+uint64(prev.EventCount) != first {
		fs.batch(TreeBatch, b.Seq, "batch %d starts at leaf %d; batch %d ends at leaf %d", b.Seq, first, prev.Seq, pf+uint64(prev.EventCount))
	}
	if l.mode == leavesPlaced {
		return
	}
	for i, h := range hashes {
		lf := leaf{index: first + uint64(i), hash: tlog.LeafHash(h), seq: b.Seq, id: ids[i]}
		if l.mode == leavesKept {
			l.leaves = append(l.leaves, lf)
			continue
		}
		if l.indexing {
			l.updates = append(l.updates, trailUpdate{leaf: lf.index, corr: corrs[i], hash: [32]byte(h)})
		}
		t := l.tiles[lf.index/tlog.TileWidth]
		at := lf.index % tlog.TileWidth * 32
		if uint64(len(t)) < at+32 || !bytes.Equal(t[at:at+32], lf.hash) {
			fs.event(TreeLeaf, b.Seq, lf.id.String(), "the tree's leaf %d is not this event's", lf.index)
		}
	}
}

// damaged notes a batch whose events do not match it: the trail index
// cannot be rebuilt from there on.
func (l *leafCheck) damaged(b *integrity.Batch) {
	if first, ok := l.first[b.Seq]; ok {
		l.stop = min(l.stop, first)
	}
}

// treeHead is how far the tree reaches: its last batch.
func treeHead(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var seq int64
	err := pool.QueryRow(ctx, `SELECT seq FROM audit.tree_head`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("tree head: %w", err)
	}
	return seq, nil
}
