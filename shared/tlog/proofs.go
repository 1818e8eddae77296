package tlog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"function/shared/pgdb"
)

// Inclusion is the RFC 6962 inclusion proof of leaf index in the tree of
// size leaves, from the stored tiles.
func Inclusion(ctx context.Context, q pgdb.Querier, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, q, nodes)
}

// InclusionProofs are the inclusion proofs of leaves indices in the tree of
// size leaves, reading each tile they need once.
func InclusionProofs(ctx context.Context, q pgdb.Querier, indices []uint64, size uint64) ([][][]byte, error) {
	all := make([]proof.Nodes, len(indices))
	var ids []compact.NodeID
	for i, index := range indices {
		n, err := proof.Inclusion(index, size)
		if err != nil {
			return nil, err
		}
		all[i], ids = n, append(ids, n.IDs...)
	}
	hashes, err := NodeHashes(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := make([][][]byte, len(indices))
	for i, n := range all {
		if out[i], err = n.Rehash(hashes[:len(n.IDs)], hasher.HashChildren); err != nil {
			return nil, err
		}
		hashes = hashes[len(n.IDs):]
	}
	return out, nil
}

// Consistency is the RFC 6962 consistency proof from the tree of size1
// leaves to the one of size2, from the stored tiles.
func Consistency(ctx context.Context, q pgdb.Querier, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, q, nodes)
}

func rehash(ctx context.Context, q pgdb.Querier, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := NodeHashes(ctx, q, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// NodeHashes are the hashes of perfect nodes of the tree, each computed
// from the tile row below it: a node at height 8·l+s is the root of 2^s
// consecutive hashes of a tile at level l.
func NodeHashes(ctx context.Context, q pgdb.Querier, ids []compact.NodeID) ([][]byte, error) {
	keys := map[tileKey]bool{}
	for _, id := range ids {
		keys[tileOf(id)] = true
	}
	tiles, err := readTiles(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	done := make(map[compact.NodeID][]byte, len(ids)) // proofs of nearby leaves share most nodes
	for i, id := range ids {
		if h, ok := done[id]; ok {
			out[i] = h
			continue
		}
		k := tileOf(id)
		sub := id.Level % TileHeight
		from := (id.Index << sub) % TileWidth
		to := from + 1<<sub
		t := tiles[k]
		if uint64(len(t)) < to*hashSize {
			return nil, fmt.Errorf("tile %d/%d holds %d hashes; node %d at height %d needs %d", k.level, k.idx, len(t)/hashSize, id.Index, id.Level, to)
		}
		out[i] = subtreeRoot(split(t[from*hashSize : to*hashSize]))
		done[id] = out[i]
	}
	return out, nil
}

func tileOf(id compact.NodeID) tileKey {
	sub := id.Level % TileHeight
	return tileKey{uint64(id.Level / TileHeight), (id.Index << sub) / TileWidth}
}

// TileRoot is the root of the perfect subtree whose leaves are the
// concatenated hashes (a full tile's 256).
func TileRoot(hashes []byte) []byte { return subtreeRoot(split(hashes)) }

// subtreeRoot hashes a perfect row of 2^k hashes up to its root.
func subtreeRoot(row [][]byte) []byte {
	for len(row) > 1 {
		next := make([][]byte, len(row)/2)
		for i := range next {
			next[i] = hasher.HashChildren(row[2*i], row[2*i+1])
		}
		row = next
	}
	return row[0]
}

// readTiles reads the stored tiles keys names, by key; a missing one is
// left out.
func readTiles(ctx context.Context, q pgdb.Querier, keys map[tileKey]bool) (map[tileKey][]byte, error) {
	levels, idxs := make([]int64, 0, len(keys)), make([]int64, 0, len(keys))
	for k := range keys {
		levels, idxs = append(levels, int64(k.level)), append(idxs, int64(k.idx))
	}
	rows, err := q.Query(ctx, `SELECT t.level, t.idx, t.hashes FROM audit.tree_tiles t
		JOIN unnest($1::bigint[], $2::bigint[]) AS k(level, idx) ON t.level = k.level AND t.idx = k.idx`, levels, idxs)
	if err != nil {
		return nil, fmt.Errorf("tree tiles: %w", err)
	}
	defer rows.Close()
	out := make(map[tileKey][]byte, len(keys))
	for rows.Next() {
		var k tileKey
		var h []byte
		if err := rows.Scan(&k.level, &k.idx, &h); err != nil {
			return nil, err
		}
		out[k] = h
	}
	return out, rows.Err()
}

// LeafTiles are the stored level-0 tiles idxs names (the leaf hashes,
// 256 a tile), by index; a missing one is left out.
func LeafTiles(ctx context.Context, q pgdb.Querier, idxs []uint64) (map[uint64][]byte, error) {
	keys := make(map[tileKey]bool, len(idxs))
	for _, i := range idxs {
		keys[tileKey{0, i}] = true
	}
	tiles, err := readTiles(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[uint64][]byte, len(tiles))
	for k, t := range tiles {
		out[k.idx] = t
	}
	return out, nil
}

// Root is the root of the tree of size leaves, from the stored tiles.
func Root(ctx context.Context, q pgdb.Querier, size uint64) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := NodeHashes(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	rng, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// UpperTiles are every stored tile above the leaves, by (level, index).
func UpperTiles(ctx context.Context, q pgdb.Querier) (map[[2]uint64][]byte, error) {
	rows, err := q.Query(ctx, `SELECT level, idx, hashes FROM audit.tree_tiles WHERE level > 0`)
	if err != nil {
		return nil, fmt.Errorf("tree tiles: %w", err)
	}
	defer rows.Close()
	out := map[[2]uint64][]byte{}
	for rows.Next() {
		var k [2]uint64
		var h []byte
		if err := rows.Scan(&k[0], &k[1], &h); err != nil {
			return nil, err
		}
		out[k] = h
	}
	return out, rows.Err()
}

// EachLeaf calls fn with each stored leaf hash in order, up to size leaves
// (fewer if the stored tiles end before).
func EachLeaf(ctx context.Context, q pgdb.Querier, size uint64, fn func([]byte) error) error {
	rows, err := q.Query(ctx, `SELECT idx, hashes FROM audit.tree_tiles WHERE level = 0 AND idx <= $1 ORDER BY idx`, size/TileWidth)
	if err != nil {
		return fmt.Errorf("tree tiles: %w", err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		var idx uint64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return err
		}
		if idx*TileWidth != n {
			return nil // a missing tile ends the stored leaves
		}
		for i := 0; i+hashSize <= len(h) && n < size; i += hashSize {
			if err := fn(h[i : i+hashSize]); err != nil {
				return err
			}
			n++
		}
	}
	return rows.Err()
}

// EachFullTile calls fn with each full tile stored, in (level, idx) order.
func EachFullTile(ctx context.Context, q pgdb.Querier, fn func(level, idx uint64, hashes []byte) error) error {
	rows, err := q.Query(ctx, `SELECT level, idx, hashes FROM audit.tree_tiles WHERE length(hashes) = $1 ORDER BY level, idx`, TileWidth*hashSize)
	if err != nil {
		return fmt.Errorf("tree tiles: %w", err)
	}
	var level, idx uint64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&level, &idx, &h}, func() error { return fn(level, idx, h) })
	return err
}
