package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"

	"function/shared/integrity"
	"function/shared/pgdb"
)

// treeLock serialises integrators across collector replicas.
const treeLock = 0x74726565 // "tree"

// Head is the tree as integrated: Size leaves, the events of every ledger
// batch up to Seq, and their root.
type Head struct {
	Size uint64
	Seq  int64
	Root []byte
}

var factory = compact.RangeFactory{Hash: hasher.HashChildren}

// ErrLedger means a ledger batch's stored events do not match it (count or
// digest): the tree stops there rather than commit to altered events, and
// the verifier names the batch.
var ErrLedger = errors.New("ledger batch does not match its events")

// Integrate appends to the tree, in one transaction, the events of the
// ledger batches after the head, whole batches of about maxLeaves events
// in all (at least one batch). It returns the new head; a head whose Seq is
// the ledger's is caught up.
func Integrate(ctx context.Context, pool *pgxpool.Pool, maxLeaves int) (Head, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return Head{}, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, treeLock); err != nil {
		return Head{}, fmt.Errorf("tree lock: %w", err)
	}
	var head Head
	var frontier []byte
	if err := tx.QueryRow(ctx, `SELECT size, seq, frontier FROM audit.tree_head`).Scan(&head.Size, &head.Seq, &frontier); err != nil {
		return Head{}, fmt.Errorf("tree head: %w", err)
	}
	rng, err := factory.NewRange(0, head.Size, split(frontier))
	if err != nil {
		return Head{}, fmt.Errorf("tree head: %w", err)
	}
	batches, err := nextBatches(ctx, tx, head.Seq, maxLeaves)
	if err != nil || len(batches) == 0 {
		head.Root, _ = rng.GetRootHash(nil)
		if head.Size == 0 {
			head.Root = EmptyRoot()
		}
		return head, err
	}
	hashes, err := batchEvents(ctx, tx, batches)
	if err != nil {
		return Head{}, err
	}

	edge, err := loadEdge(ctx, tx, head.Size)
	if err != nil {
		return Head{}, err
	}
	seqs, firsts := make([]int64, len(batches)), make([]int64, len(batches))
	for i, b := range batches {
		seqs[i], firsts[i] = b.seq, int64(rng.End())
		for _, h := range hashes[i] {
			if err := rng.Append(LeafHash(h), edge.visit); err != nil {
				return Head{}, err
			}
		}
	}
	if err := edge.store(ctx, tx); err != nil {
		return Head{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit.tree_batches (seq, first_leaf) SELECT * FROM unnest($1::bigint[], $2::bigint[])`, seqs, firsts); err != nil {
		return Head{}, fmt.Errorf("store tree batches: %w", err)
	}
	head = Head{Size: rng.End(), Seq: batches[len(batches)-1].seq}
	if _, err := tx.Exec(ctx, `UPDATE audit.tree_head SET size = $1, seq = $2, frontier = $3`,
		head.Size, head.Seq, bytes.Join(rng.Hashes(), nil)); err != nil {
		return Head{}, fmt.Errorf("store tree head: %w", err)
	}
	if head.Root, err = rng.GetRootHash(nil); err != nil {
		return Head{}, err
	}
	return head, tx.Commit(ctx)
}

// CatchUp integrates until the tree holds every batch the ledger had when
// it started (one transaction per integrateBatch events).
func CatchUp(ctx context.Context, pool *pgxpool.Pool) (Head, error) {
	var ledger int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit.ledger`).Scan(&ledger); err != nil {
		return Head{}, fmt.Errorf("ledger head: %w", err)
	}
	for {
		h, err := Integrate(ctx, pool, integrateBatch)
		if err != nil || h.Seq >= ledger {
			return h, err
		}
	}
}

// integrateBatch bounds one integration transaction.
const integrateBatch = 50_000

type batch struct {
	seq    int64
	count  int
	digest []byte
}

// nextBatches are the ledger batches after seq, whole, up to about
// maxLeaves events (at least one batch).
func nextBatches(ctx context.Context, tx pgx.Tx, seq int64, maxLeaves int) ([]batch, error) {
	rows, err := tx.Query(ctx, `SELECT seq, event_count, events_digest FROM audit.ledger WHERE seq > $1 ORDER BY seq LIMIT 1000`, seq)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	var out []batch
	n := 0
	for rows.Next() && (len(out) == 0 || n < maxLeaves) {
		var b batch
		if err := rows.Scan(&b.seq, &b.count, &b.digest); err != nil {
			return nil, err
		}
		if b.seq != seq+int64(len(out))+1 {
			return nil, fmt.Errorf("%w: ledger batch %d follows %d", ErrLedger, b.seq, seq+int64(len(out)))
		}
		out = append(out, b)
		n += b.count
	}
	return out, rows.Err()
}

// batchEvents are the event hashes of each batch in ledger_pos order,
// checked against the batch's count and digest.
func batchEvents(ctx context.Context, tx pgx.Tx, batches []batch) ([][][]byte, error) {
	first, last := batches[0].seq, batches[len(batches)-1].seq
	rows, err := tx.Query(ctx, `SELECT ledger_seq, event_hash FROM audit.audit_events
		WHERE ledger_seq BETWEEN $1 AND $2 ORDER BY ledger_seq, ledger_pos`, first, last)
	if err != nil {
		return nil, fmt.Errorf("ledger events: %w", err)
	}
	defer rows.Close()
	out := make([][][]byte, len(batches))
	for rows.Next() {
		var seq int64
		var h []byte
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, err
		}
		out[seq-first] = append(out[seq-first], h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, b := range batches {
		if len(out[i]) != b.count || !bytes.Equal(integrity.EventsDigest(out[i]), b.digest) {
			return nil, fmt.Errorf("%w: batch %d holds %d events, ledger says %d or its digest differs", ErrLedger, b.seq, len(out[i]), b.count)
		}
	}
	return out, nil
}

func split(b []byte) [][]byte {
	out := make([][]byte, 0, len(b)/hashSize)
	for i := 0; i+hashSize <= len(b); i += hashSize {
		out = append(out, b[i:i+hashSize])
	}
	return out
}

type tileKey struct{ level, idx uint64 }

// edge is the tiles an integration touches: the partial tiles at the
// tree's right edge and the ones it starts.
type edge struct {
	tiles   map[tileKey][]byte
	changed map[tileKey]bool
	err     error
}

// loadEdge reads the partial tile of every level at a tree of size leaves.
func loadEdge(ctx context.Context, tx pgx.Tx, size uint64) (*edge, error) {
	keys := map[tileKey]bool{}
	for level, n := uint64(0), size; n > 0; level, n = level+1, n>>TileHeight {
		if n%TileWidth != 0 {
			keys[tileKey{level, n / TileWidth}] = true
		}
	}
	tiles, err := readTiles(ctx, tx, keys)
	if err != nil {
		return nil, err
	}
	return &edge{tiles: tiles, changed: map[tileKey]bool{}}, nil
}

// visit records each new node at a tile row (height a multiple of 8).
func (e *edge) visit(id compact.NodeID, hash []byte) {
	if id.Level%TileHeight != 0 || e.err != nil {
		return
	}
	k := tileKey{uint64(id.Level / TileHeight), id.Index / TileWidth}
	t := e.tiles[k]
	if uint64(len(t)) != id.Index%TileWidth*hashSize {
		e.err = fmt.Errorf("tile %d/%d holds %d hashes where node %d goes: the stored tiles do not match the tree head", k.level, k.idx, len(t)/hashSize, id.Index)
		return
	}
	e.tiles[k] = append(t, hash...)
	e.changed[k] = true
}

func (e *edge) store(ctx context.Context, tx pgx.Tx) error {
	if e.err != nil {
		return e.err
	}
	var levels, idxs []int64
	var hashes [][]byte
	for k := range e.changed {
		levels, idxs, hashes = append(levels, int64(k.level)), append(idxs, int64(k.idx)), append(hashes, e.tiles[k])
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit.tree_tiles (level, idx, hashes)
		SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])
		ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes`, levels, idxs, hashes)
	if err != nil {
		return fmt.Errorf("store tree tiles: %w", err)
	}
	return nil
}

// FirstLeaves are where the events of the ledger batches seqs start in the
// tree, for those integrated: event (seq, pos) is leaf FirstLeaves[seq]+pos.
func FirstLeaves(ctx context.Context, q pgdb.Querier, seqs []int64) (map[int64]uint64, error) {
	rows, err := q.Query(ctx, `SELECT seq, first_leaf FROM audit.tree_batches WHERE seq = ANY($1)`, seqs)
	if err != nil {
		return nil, fmt.Errorf("tree batches: %w", err)
	}
	out := make(map[int64]uint64, len(seqs))
	var seq int64
	var first uint64
	_, err = pgx.ForEachRow(rows, []any{&seq, &first}, func() error { out[seq] = first; return nil })
	return out, err
}
