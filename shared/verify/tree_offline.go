package verify

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"function/archive/format"
	"function/shared/tlog"
)

// treeOffline checks the tree in a copy of the bucket: every checkpoint
// under _tlog/checkpoints verifies with a published key, names the size its
// key says and one origin, and, where the copy's full leaf tiles reach its
// size, the tree they make has its root: that is consistency between every
// two such checkpoints. Then every archived event (archived: the parts'
// rows) must be at a leaf of those tiles below the newest checkpoint, in
// ledger order. It returns how many checkpoints it read and how many
// archived events it found in the tree.
func (v *Verifier) treeOffline(ctx context.Context, keys []versions, archived []placed, fs *findings) (int, int, error) {
	objs, err := v.objs.src.List(ctx, format.TreePrefix+"checkpoints/")
	if err != nil || len(objs) == 0 {
		return 0, 0, err
	}
	type signed struct {
		key  string
		size uint64
		root []byte
	}
	var cps []signed
	var origin string
	var verifiers []note.Verifier
	for _, o := range objs {
		body, ok, err := v.objs.read(ctx, o.Key, o.VersionID, fs)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			continue
		}
		if origin == "" {
			origin = tlog.Origin(body)
			if verifiers, err = v.noteVerifiers(ctx, tlog.Checkpoint{Note: body}, keys, fs); err != nil {
				return 0, 0, err
			}
		}
		size, root, err := tlog.Open(body, origin, verifiers)
		if err != nil {
			fs.object(TreeCheckpoint, o.Key, "%s: %v", o.Key, err)
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, format.TreePrefix+"checkpoints/"), ".cosigned")
		if want, err := strconv.ParseUint(name, 10, 64); err != nil || want != size {
			fs.object(TreeCheckpoint, o.Key, "%s holds the checkpoint of size %d", o.Key, size)
			continue
		}
		if !strings.HasSuffix(o.Key, ".cosigned") {
			cps = append(cps, signed{o.Key, size, root})
		}
	}
	sizes := make([]uint64, len(cps))
	for i, cp := range cps {
		sizes[i] = cp.size
	}
	anchors := newAnchors(archived)
	// The leaves of the copy's full tiles, in order, until one is missing.
	walk := newRootWalk(sizes)
	for idx := uint64(0); ; idx++ {
		key := format.TreePrefix + tlog.TilePath(0, idx, tlog.TileWidth)
		tile, err := v.objs.src.ReadAll(ctx, key, "")
		if err != nil || len(tile) != tlog.TileWidth*32 {
			break
		}
		for i := 0; i < len(tile); i += 32 {
			anchors.leaf(walk.rng.End(), tile[i:i+32])
			err := walk.add(tile[i:i+32], nil, func(j int, root []byte) {
				if !bytes.Equal(root, cps[j].root) {
					fs.object(TreeAltered, cps[j].key, "the copy's leaf tiles do not hash to %s's root", cps[j].key)
				}
			})
			if err != nil {
				return 0, 0, err
			}
		}
	}
	var signedLeaves uint64 // the leaves under the newest checkpoint reached
	if walk.next > 0 {
		signedLeaves = cps[walk.next-1].size
	}
	return len(objs), anchors.check(signedLeaves, fs), nil
}

// anchors finds archived events at the tree's leaves.
type anchors struct {
	events []placed // in ledger order
	at     map[[32]byte]int
	leaves []uint64 // events[i]'s leaf, +1 (0: not found)
}

func newAnchors(archived []placed) *anchors {
	a := &anchors{events: slices.SortedFunc(slices.Values(archived), byPlace), at: make(map[[32]byte]int, len(archived))}
	for i, e := range a.events {
		a.at[[32]byte(tlog.LeafHash(e.hash))] = i
	}
	a.leaves = make([]uint64, len(a.events))
	return a
}

func (a *anchors) leaf(index uint64, hash []byte) {
	if i, ok := a.at[[32]byte(hash)]; ok && a.leaves[i] == 0 {
		a.leaves[i] = index + 1
	}
}

// check reports archived events not at a leaf under a signed checkpoint
// (signed leaves), or out of ledger order, when an event after them in the
// ledger is: those after the last one found may lie beyond the copy's last
// full tile. It returns how many were found.
func (a *anchors) check(signed uint64, fs *findings) int {
	found, last := 0, -1
	for i, l := range a.leaves {
		if l != 0 && l <= signed {
			found, last = found+1, i
		}
	}
	var prev uint64
	for i, e := range a.events[:last+1] {
		switch l := a.leaves[i]; {
		case l == 0 || l > signed:
			fs.event(TreeLeaf, e.seq, e.id.String(), "archived event %s (batch %d, position %d) is at no leaf of the copy's tree under a signed checkpoint", e.id, e.seq, e.pos)
		case l <= prev:
			fs.event(TreeLeaf, e.seq, e.id.String(), "archived event %s is at leaf %d, before an event the ledger puts before it", e.id, l-1)
		default:
			prev = l
		}
	}
	return found
}
