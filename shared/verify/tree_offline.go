package verify

import (
	"bytes"
	"context"
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
// two such checkpoints. It returns how many checkpoints it read.
func (v *Verifier) treeOffline(ctx context.Context, keys []versions, fs *findings) (int, error) {
	objs, err := v.objs.src.List(ctx, format.TreePrefix+"checkpoints/")
	if err != nil || len(objs) == 0 {
		return 0, err
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
			return 0, err
		}
		if !ok {
			continue
		}
		if origin == "" {
			origin = tlog.Origin(body)
			if verifiers, err = v.noteVerifiers(ctx, tlog.Checkpoint{Note: body}, keys, fs); err != nil {
				return 0, err
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
	// The leaves of the copy's full tiles, in order, until one is missing.
	sizes := make([]uint64, len(cps))
	for i, cp := range cps {
		sizes[i] = cp.size
	}
	walk := newRootWalk(sizes)
	for idx := uint64(0); walk.next < len(cps); idx++ {
		key := format.TreePrefix + tlog.TilePath(0, idx, tlog.TileWidth)
		tile, err := v.objs.src.ReadAll(ctx, key, "")
		if err != nil || len(tile) != tlog.TileWidth*32 {
			break
		}
		for i := 0; i < len(tile); i += 32 {
			err := walk.add(tile[i:i+32], nil, func(j int, root []byte) {
				if !bytes.Equal(root, cps[j].root) {
					fs.object(TreeAltered, cps[j].key, "the copy's leaf tiles do not hash to %s's root", cps[j].key)
				}
			})
			if err != nil {
				return 0, err
			}
		}
	}
	return len(objs), nil
}
