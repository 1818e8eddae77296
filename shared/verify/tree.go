package verify

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"function/archive/format"
	"function/shared/pgdb"
	"function/shared/tlog"
)

// tree checks the Merkle tree against its signed checkpoints
// (docs/integrity.md §7): each checkpoint's signature by a published key,
// that the tree reaches it, and that the stored tree hashes to its root.
// Over the whole log every checkpoint is checked by rebuilding the tree
// from its leaves; in a scope, the newest (with its consistency with the
// one before), and every leaf of the scope by its inclusion proof. In a
// correlation scope those are the trail's events, checked against the
// trail index too (§9). It returns the number of checkpoints checked, and
// in a correlation scope the trail.
func (v *Verifier) tree(ctx context.Context, s Scope, a treeAnchor, found chained, keys []versions, fs *findings) (int, *Trail, error) {
	whole := s == Scope{}
	var t *Trail
	if s.CorrelationID != "" {
		t = &Trail{CorrelationID: s.CorrelationID, Pending: len(found.trail)}
	}
	cps := a.cps
	if len(cps) == 0 {
		return 0, t, nil
	}
	verifiers, err := v.noteVerifiers(ctx, cps[0], keys, fs)
	if err != nil {
		return 0, nil, err
	}
	origin := tlog.Origin(cps[0].Note)
	for _, cp := range cps {
		size, root, err := tlog.Open(cp.Note, origin, verifiers)
		switch {
		case err != nil:
			fs.object(TreeCheckpoint, format.TreeCheckpointKey(cp.Size), "tree checkpoint %d: %v", cp.Size, err)
		case size != cp.Size || !bytes.Equal(root, cp.Root):
			fs.object(TreeCheckpoint, format.TreeCheckpointKey(cp.Size), "tree checkpoint %d: the signed note says size %d", cp.Size, size)
		}
	}
	if err := v.published(ctx, cps, whole, fs); err != nil {
		return 0, nil, err
	}
	if err := v.witnessed(ctx, fs); err != nil {
		return 0, nil, err
	}
	if err := v.ledgerReachesTree(ctx, fs); err != nil {
		return 0, nil, err
	}
	var size uint64
	if err := v.pool.QueryRow(ctx, `SELECT size FROM audit.tree_head`).Scan(&size); err != nil {
		return 0, nil, err
	}
	newest := cps[len(cps)-1]
	if size < newest.Size {
		fs.object(TreeTruncated, format.TreeCheckpointKey(newest.Size), "the tree holds %d leaves; checkpoint %d was signed", size, newest.Size)
		return len(cps), t, nil
	}
	if whole {
		if err := v.rebuild(ctx, cps, fs); err != nil {
			return 0, nil, err
		}
		return len(cps), nil, v.tilesPublished(ctx, fs)
	}
	leaves := found.leaves
	if t != nil {
		if t, leaves, err = v.checkTrail(ctx, newest, s.CorrelationID, a.trail, found.trail, fs); err != nil {
			return 0, nil, err
		}
	}
	return len(cps), t, v.included(ctx, cps, leaves, fs)
}

// treeAnchor is what the tree's checks hold the events against: the
// stored checkpoints (all, or the newest two) and, in a correlation scope,
// the newest one's trail entry, read in one snapshot (the stored trail
// index is the newest checkpoint's) before the events are, so that every
// event a checkpoint covers is there to be found.
type treeAnchor struct {
	cps   []tlog.Checkpoint
	trail trailAnchor
}

func (v *Verifier) readAnchor(ctx context.Context, s Scope) (treeAnchor, error) {
	var a treeAnchor
	err := pgx.BeginTxFunc(ctx, v.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if a.cps, err = v.treeCheckpoints(ctx, tx, s == Scope{}); err != nil || len(a.cps) == 0 || s.CorrelationID == "" {
			return err
		}
		a.trail = readTrailAnchor(ctx, tx, a.cps[len(a.cps)-1], s.CorrelationID)
		return nil
	})
	return a, err
}

// ledgerReachesTree reports ledger batches the tree holds that the ledger
// no longer has: its newest batches deleted.
func (v *Verifier) ledgerReachesTree(ctx context.Context, fs *findings) error {
	var tree, ledger int64
	if err := v.pool.QueryRow(ctx, `SELECT (SELECT seq FROM audit.tree_head), (SELECT coalesce(max(seq), 0) FROM audit.ledger)`).Scan(&tree, &ledger); err != nil {
		return err
	}
	if ledger < tree {
		fs.batch(LedgerTruncated, ledger+1, "the tree holds ledger batches %d to %d, which the ledger no longer has: deleted", ledger+1, tree)
	}
	return nil
}

// witnessed checks the newest checkpoint's cosignatures against the
// witness policy: the older ones were cosigned or not, what counts is that
// witnesses vouch for the newest, which commits to all before it.
func (v *Verifier) witnessed(ctx context.Context, fs *findings) error {
	if v.witnesses == nil {
		return nil
	}
	cp, err := tlog.Latest(ctx, v.pool)
	if err != nil {
		return err
	}
	if !tlog.Witnessed(cp.Note, *v.witnesses) {
		fs.object(TreeUnwitnessed, format.TreeCosignedKey(cp.Size), "tree checkpoint %d is cosigned by %d witnesses of the policy %v, too few for its quorum",
			cp.Size, len(tlog.Cosigners(cp.Note, *v.witnesses)), tlog.Cosigners(cp.Note, *v.witnesses))
	}
	return nil
}

// treeCheckpoints are the stored checkpoints: all, or the newest two.
func (v *Verifier) treeCheckpoints(ctx context.Context, q pgdb.Querier, whole bool) ([]tlog.Checkpoint, error) {
	if whole {
		return tlog.Checkpoints(ctx, q, 0, 1<<62)
	}
	// The log's own notes: witnesses' cosignatures are checked apart
	// (witnessed), and the bucket's numbered objects hold the notes alone.
	return tlog.Newest(ctx, q, 2)
}

// noteVerifiers are note verifiers for the checkpoints' origin, one per
// published archive key (the tree is signed by the archive's key).
func (v *Verifier) noteVerifiers(ctx context.Context, cp tlog.Checkpoint, keys []versions, fs *findings) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, k := range keys {
		id := strings.TrimSuffix(strings.TrimPrefix(k.key, format.ManifestPrefix+"keys/"), ".pem")
		pub, problem, err := v.objs.publicKey(ctx, k.key, id)
		if err != nil {
			return nil, err
		}
		if problem != "" {
			continue // reported where the manifests are checked
		}
		vkey, err := note.NewEd25519VerifierKey(tlog.Origin(cp.Note), pub)
		if err != nil {
			fs.object(TreeCheckpoint, format.TreeCheckpointKey(cp.Size), "tree checkpoint %d: bad origin: %v", cp.Size, err)
			return nil, nil
		}
		nv, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		out = append(out, nv)
	}
	return out, nil
}

// rebuild recomputes the tree from its stored leaves, checking every
// stored node above them and the root at every checkpoint.
func (v *Verifier) rebuild(ctx context.Context, cps []tlog.Checkpoint, fs *findings) error {
	upper, err := tlog.UpperTiles(ctx, v.pool)
	if err != nil {
		return err
	}
	sizes := make([]uint64, len(cps))
	for i, cp := range cps {
		sizes[i] = cp.Size
	}
	walk := newRootWalk(sizes)
	bad := map[string]bool{}
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level == 0 || id.Level%tlog.TileHeight != 0 {
			return
		}
		level, idx := uint64(id.Level/tlog.TileHeight), id.Index/tlog.TileWidth
		t := upper[[2]uint64{level, idx}]
		at := id.Index % tlog.TileWidth * 32
		if uint64(len(t)) < at+32 || !bytes.Equal(t[at:at+32], hash) {
			key := tlog.TilePath(level, idx, tlog.TileWidth)
			if !bad[key] {
				bad[key] = true
				fs.object(TreeAltered, format.TreePrefix+key, "stored tile %s differs from the tree its leaves make", key)
			}
		}
	}
	err = tlog.EachLeaf(ctx, v.pool, cps[len(cps)-1].Size, func(hash []byte) error {
		return walk.add(hash, visit, func(i int, root []byte) {
			if !bytes.Equal(root, cps[i].Root) {
				fs.object(TreeAltered, format.TreeCheckpointKey(cps[i].Size), "the tree's first %d leaves do not hash to checkpoint %d's root", cps[i].Size, cps[i].Size)
			}
		})
	})
	if err != nil {
		return err
	}
	if walk.next < len(cps) {
		fs.object(TreeTruncated, format.TreeCheckpointKey(cps[walk.next].Size), "the stored tree has %d leaves; checkpoint %d was signed", walk.rng.End(), cps[walk.next].Size)
	}
	return nil
}

// rootWalk rebuilds a tree from its leaves in order, for comparing its
// root at each checkpoint's size with the checkpoint's.
type rootWalk struct {
	rng   *compact.Range
	sizes []uint64 // ascending
	next  int      // the first size not reached yet
}

func newRootWalk(sizes []uint64) *rootWalk {
	return &rootWalk{rng: (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0), sizes: sizes}
}

// add appends a leaf (visit sees every node it makes) and calls at with
// the index and the root of each size the tree now reaches.
func (w *rootWalk) add(leaf []byte, visit compact.VisitFn, at func(i int, root []byte)) error {
	if err := w.rng.Append(leaf, visit); err != nil {
		return err
	}
	for ; w.next < len(w.sizes) && w.sizes[w.next] == w.rng.End(); w.next++ {
		root, err := w.rng.GetRootHash(nil)
		if err != nil {
			return err
		}
		at(w.next, root)
	}
	return nil
}

// included checks the newest checkpoint's root against the stored tree,
// its consistency with the one before, and each leaf of the scope by its
// inclusion proof.
func (v *Verifier) included(ctx context.Context, cps []tlog.Checkpoint, leaves []leaf, fs *findings) error {
	newest := cps[len(cps)-1]
	key := format.TreeCheckpointKey(newest.Size)
	root, err := tlog.Root(ctx, v.pool, newest.Size)
	if err != nil || !bytes.Equal(root, newest.Root) {
		fs.object(TreeAltered, key, "the stored tree does not hash to checkpoint %d's root: %v", newest.Size, err)
		return nil
	}
	if len(cps) == 2 {
		old := cps[0]
		p, err := tlog.Consistency(ctx, v.pool, old.Size, newest.Size)
		if err == nil {
			err = proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, newest.Size, p, old.Root, newest.Root)
		}
		if err != nil {
			fs.object(TreeAltered, key, "checkpoint %d is not consistent with checkpoint %d: %v", newest.Size, old.Size, err)
		}
	}
	// Those after the newest checkpoint wait for the next. A leaf in a
	// full tile is checked against the stored tile, and the tile once, by
	// its subtree's inclusion; the others (the partial tile's) each by its
	// own proof.
	full := newest.Size / tlog.TileWidth
	byTile := map[uint64][]leaf{}
	var single []leaf
	var idxs []uint64
	for _, l := range leaves {
		switch t := l.index / tlog.TileWidth; {
		case l.index >= newest.Size:
		case t < full:
			byTile[t] = append(byTile[t], l)
		default:
			single, idxs = append(single, l), append(idxs, l.index)
		}
	}
	if err := v.tilesIncluded(ctx, newest, byTile, fs); err != nil {
		return err
	}
	proofs, err := tlog.InclusionProofs(ctx, v.pool, idxs, newest.Size)
	if err != nil {
		return err
	}
	for i, l := range single {
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, l.index, newest.Size, l.hash, proofs[i], newest.Root); err != nil {
			fs.event(TreeLeaf, l.seq, l.id.String(), "not at leaf %d of checkpoint %d: %v", l.index, newest.Size, err)
		}
	}
	return nil
}

// tilesIncluded checks leaves against the stored full level-0 tiles that
// hold them, and each tile by the inclusion of its subtree in newest: the
// tree above the tiles is an RFC 6962 tree whose leaves are the tiles'
// subtree roots, and the inclusion proof of a tile's first leaf, less its
// first eight hashes (those inside the tile), is the tile's proof in it.
func (v *Verifier) tilesIncluded(ctx context.Context, newest tlog.Checkpoint, byTile map[uint64][]leaf, fs *findings) error {
	idxs := slices.Sorted(maps.Keys(byTile))
	tiles, err := tlog.LeafTiles(ctx, v.pool, idxs)
	if err != nil {
		return err
	}
	firsts := make([]uint64, len(idxs))
	for i, t := range idxs {
		firsts[i] = t * tlog.TileWidth
	}
	proofs, err := tlog.InclusionProofs(ctx, v.pool, firsts, newest.Size)
	if err != nil {
		return err
	}
	chunks := (newest.Size + tlog.TileWidth - 1) / tlog.TileWidth
	for i, t := range idxs {
		key := format.TreePrefix + tlog.TilePath(0, t, tlog.TileWidth)
		stored := tiles[t]
		if len(stored) != tlog.TileWidth*32 {
			fs.object(TreeAltered, key, "tile %s holds %d hashes below checkpoint %d", key, len(stored)/32, newest.Size)
			continue
		}
		for _, l := range byTile[t] {
			if at := l.index % tlog.TileWidth * 32; !bytes.Equal(stored[at:at+32], l.hash) {
				fs.event(TreeLeaf, l.seq, l.id.String(), "not at leaf %d of checkpoint %d: the tree's leaf there is another", l.index, newest.Size)
			}
		}
		if len(proofs[i]) < tlog.TileHeight {
			return fmt.Errorf("inclusion proof of leaf %d has %d hashes", firsts[i], len(proofs[i]))
		}
		err := proof.VerifyInclusion(rfc6962.DefaultHasher, t, chunks, tlog.TileRoot(stored), proofs[i][tlog.TileHeight:], newest.Root)
		if err != nil {
			fs.object(TreeAltered, key, "tile %s does not lead to checkpoint %d's root: %v", key, newest.Size, err)
		}
	}
	return nil
}
