package verify

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"strings"

	"function/archive/bucket"
	"function/archive/format"
	"function/shared/tlog"
)

// published compares the checkpoints in the bucket with the database's,
// whose newest is newest: a size the bucket holds in two versions that
// differ is a fork; one whose note differs from the database's, or that the
// database lacks, means the database was rewritten; a bucket checkpoint
// larger than the database's newest means the tree was cut back. Over the
// whole log every version is compared (by ETag, reading only those that
// differ); in a scope, the bucket's newest checkpoint and the versions of
// the database's newest.
func (v *Verifier) published(ctx context.Context, cps []tlog.Checkpoint, whole bool, fs *findings) error {
	// Those signed since cps was read (the verify held the events against
	// cps) are the database's too, and may be in the bucket already.
	later, err := tlog.Checkpoints(ctx, v.pool, cps[len(cps)-1].Size, 1<<62)
	if err != nil {
		return err
	}
	cps = append(cps[:len(cps):len(cps)], later...)
	newest := cps[len(cps)-1]
	notes := make(map[uint64][]byte, len(cps))
	for _, cp := range cps {
		notes[cp.Size] = cp.Note
	}
	prefix := format.TreeCheckpointKey(cps[len(cps)-1-len(later)].Size)
	if whole {
		prefix = format.TreePrefix + "checkpoints/"
	} else {
		if latest, err := v.objs.src.ReadAll(ctx, format.TreeLatestKey, ""); err == nil {
			if size := sizeLine(latest); size > newest.Size {
				fs.object(TreeTruncated, format.TreeLatestKey, "the bucket's newest checkpoint is of size %d; the database's is of %d", size, newest.Size)
			}
		}
	}
	objs, err := v.objs.src.Versions(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		size, err := strconv.ParseUint(strings.TrimPrefix(o.Key, format.TreePrefix+"checkpoints/"), 10, 64)
		if err != nil {
			continue // not a checkpoint's key
		}
		want, ok := notes[size]
		switch {
		case !ok && size > newest.Size:
			fs.object(TreeTruncated, o.Key, "the bucket holds a checkpoint of size %d; the database's newest is of %d", size, newest.Size)
			continue
		case !ok:
			fs.object(TreeCheckpoint, o.Key, "the bucket holds a checkpoint of size %d the database does not", size)
			continue
		}
		if sum := md5.Sum(want); o.ETag == hex.EncodeToString(sum[:]) {
			continue
		}
		got, err := v.objs.src.ReadAll(ctx, o.Key, o.VersionID)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			fs.object(TreeCheckpoint, o.Key, "%s version %s is another checkpoint of size %d than the database's: a fork", o.Key, o.VersionID, size)
		}
	}
	return nil
}

// sizeLine is the size line of a checkpoint note, 0 if there is none.
func sizeLine(note []byte) uint64 {
	lines := strings.SplitN(string(note), "\n", 3)
	if len(lines) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return n
}

// tilesPublished compares every version of every full tile in the bucket
// with the database's tile, which the rebuild checked against the signed
// roots. By ETag (a single-part upload's MD5), so nothing but the listing
// is read. A version that differs is a tile overwritten in the bucket (a
// locked key can still gain a version, which readers then get); a full
// tile the database lacks is one the tree never had.
func (v *Verifier) tilesPublished(ctx context.Context, fs *findings) error {
	objs, err := v.objs.src.Versions(ctx, format.TreePrefix+"tile/")
	if err != nil {
		return err
	}
	listed := map[[2]uint64][]bucket.Object{}
	for _, o := range objs {
		level, idx, width, err := tlog.ParseTilePath(strings.TrimPrefix(o.Key, format.TreePrefix))
		if err != nil || width != tlog.TileWidth {
			continue // partial tiles are not published
		}
		listed[[2]uint64{level, idx}] = append(listed[[2]uint64{level, idx}], o)
	}
	err = tlog.EachFullTile(ctx, v.pool, func(level, idx uint64, hashes []byte) error {
		k := [2]uint64{level, idx}
		sum := md5.Sum(hashes)
		for _, o := range listed[k] {
			if o.ETag != hex.EncodeToString(sum[:]) {
				fs.object(TreeAltered, o.Key, "version %s of %s is not the tile the signed checkpoints prove", o.VersionID, o.Key)
			}
		}
		delete(listed, k)
		return nil
	})
	if err != nil {
		return err
	}
	for _, os := range listed {
		for _, o := range os {
			fs.object(TreeAltered, o.Key, "the bucket holds %s (version %s), a full tile the tree does not have", o.Key, o.VersionID)
		}
	}
	return nil
}
