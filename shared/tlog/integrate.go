package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"

	"function/shared/integrity"
	"function/shared/pgdb"
	"function/shared/trail"
)

// treeLock serialises integrators across collector replicas.
const treeLock = 0x74726565 // "tree"

// Head is the tree as integrated: Size leaves, the events of every ledger
// batch up to Seq, and their root; Trails is the trail index's root over
// the same leaves.
type Head struct {
	Size   uint64
	Seq    int64
	Root   []byte
	Trails []byte
}

var factory = compact.RangeFactory{Hash: hasher.HashChildren}

// ErrLedger means a ledger batch's stored events do not match it (count or
// digest): the tree stops there rather than commit to altered events, and
// the verifier names the batch.
var ErrLedger = errors.New("ledger batch does not match its events")

// Integrate appends to the tree, in one transaction, the events of the
// ledger batches after the head, whole batches of about maxLeaves events
// in all (at least one batch); adds them to the trail index; and stores
// the checkpoint of both, signed. So the stored index is always the newest
// checkpoint's. It returns the new head; a head whose Seq is the ledger's
// is caught up.
func Integrate(ctx context.Context, pool *pgxpool.Pool, signer *Signer, maxLeaves int) (Head, error) {
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
	var trailSeq int64
	if err := tx.QueryRow(ctx, `SELECT size, seq, frontier, trails, trail_seq FROM audit.tree_head`).
		Scan(&head.Size, &head.Seq, &frontier, &head.Trails, &trailSeq); err != nil {
		return Head{}, fmt.Errorf("tree head: %w", err)
	}
	rng, err := factory.NewRange(0, head.Size, split(frontier))
	if err != nil {
		return Head{}, fmt.Errorf("tree head: %w", err)
	}
	head.Root = EmptyRoot()
	if head.Size > 0 {
		if head.Root, err = rng.GetRootHash(nil); err != nil {
			return Head{}, err
		}
	}
	// The index lags the tree only in an installation that built its tree
	// before the index existed: those batches are indexed first.
	batches, err := nextBatches(ctx, tx, min(trailSeq, head.Seq), maxLeaves)
	if err != nil || len(batches) == 0 {
		return head, err
	}
	events, err := batchEvents(ctx, tx, batches)
	if err != nil {
		return Head{}, err
	}
	firsts := map[int64]uint64{} // the batches already in the tree
	if trailSeq < head.Seq {
		if firsts, err = FirstLeaves(ctx, tx, seqsOf(batches)); err != nil {
			return Head{}, err
		}
	}
	edge, err := loadEdge(ctx, tx, head.Size)
	if err != nil {
		return Head{}, err
	}
	var newSeqs, newFirsts []int64
	var updates []trailUpdate
	for i, b := range batches {
		first, inTree := firsts[b.seq]
		if !inTree {
			first = rng.End()
			newSeqs, newFirsts = append(newSeqs, b.seq), append(newFirsts, int64(first))
		}
		for j, e := range events[i] {
			if !inTree {
				if err := rng.Append(LeafHash(e.hash), edge.visit); err != nil {
					return Head{}, err
				}
			}
			updates = append(updates, trailUpdate{e.correlationID, first + uint64(j), e.hash})
		}
	}
	if err := edge.store(ctx, tx); err != nil {
		return Head{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit.tree_batches (seq, first_leaf) SELECT * FROM unnest($1::bigint[], $2::bigint[])`, newSeqs, newFirsts); err != nil {
		return Head{}, fmt.Errorf("store tree batches: %w", err)
	}
	if err := checkTrails(ctx, tx, head.Trails); err != nil {
		return Head{}, err
	}
	if head.Trails, err = indexTrails(ctx, tx, head.Trails, updates); err != nil {
		return Head{}, err
	}
	last := batches[len(batches)-1].seq
	head.Size, head.Seq = rng.End(), max(head.Seq, last)
	if head.Root, err = rng.GetRootHash(nil); err != nil {
		return Head{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE audit.tree_head SET size = $1, seq = $2, frontier = $3, trails = $4, trail_seq = $5`,
		head.Size, head.Seq, bytes.Join(rng.Hashes(), nil), head.Trails, last); err != nil {
		return Head{}, fmt.Errorf("store tree head: %w", err)
	}
	if err := storeCheckpoint(ctx, tx, signer, head); err != nil {
		return Head{}, err
	}
	return head, tx.Commit(ctx)
}

// checkTrails refuses to extend a stored index whose root is not the one
// the newest checkpoint commits to: the head was altered, and extending it
// would sign the alteration. (Nodes altered under the right root fail to
// load; the whole verify rebuilds the index from the events.)
func checkTrails(ctx context.Context, tx pgx.Tx, root []byte) error {
	cp, err := latest(ctx, tx)
	if errors.Is(err, ErrNoCheckpoint) {
		return nil
	}
	if err != nil {
		return err
	}
	signed, err := TrailsRoot(cp.Note)
	if errors.Is(err, trail.ErrNoLine) {
		return nil // signed before the index existed
	}
	if err != nil || !bytes.Equal(signed, root) {
		return fmt.Errorf("%w: the stored trail index is not the one checkpoint %d signed", ErrLedger, cp.Size)
	}
	return nil
}

// storeCheckpoint signs and stores head's checkpoint. A size already
// signed keeps its checkpoint: an installation upgraded from before the
// index indexes its old batches without growing the tree, and its trails
// are anchored from the next checkpoint on.
func storeCheckpoint(ctx context.Context, tx pgx.Tx, signer *Signer, head Head) error {
	cp, err := signer.Checkpoint(head, time.Now())
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit.tree_checkpoints (size, root, note, signed_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING`, cp.Size, cp.Root, cp.Note, cp.SignedAt); err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	return nil
}

func seqsOf(batches []batch) []int64 {
	out := make([]int64, len(batches))
	for i, b := range batches {
		out[i] = b.seq
	}
	return out
}

// CatchUp integrates until the tree holds every batch the ledger had when
// it started (one transaction and checkpoint per integrateBatch events).
func CatchUp(ctx context.Context, pool *pgxpool.Pool, signer *Signer) (Head, error) {
	var ledger int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit.ledger`).Scan(&ledger); err != nil {
		return Head{}, fmt.Errorf("ledger head: %w", err)
	}
	for {
		h, err := Integrate(ctx, pool, signer, integrateBatch)
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

// ledgerEvent is what integration takes of an event.
type ledgerEvent struct {
	hash          []byte
	correlationID string
}

// batchEvents are the events of each batch in ledger_pos order, their
// hashes checked against the batch's count and digest.
func batchEvents(ctx context.Context, tx pgx.Tx, batches []batch) ([][]ledgerEvent, error) {
	first, last := batches[0].seq, batches[len(batches)-1].seq
	rows, err := tx.Query(ctx, `SELECT ledger_seq, event_hash, correlation_id FROM audit.audit_events
		WHERE ledger_seq BETWEEN $1 AND $2 ORDER BY ledger_seq, ledger_pos`, first, last)
	if err != nil {
		return nil, fmt.Errorf("ledger events: %w", err)
	}
	defer rows.Close()
	out := make([][]ledgerEvent, len(batches))
	for rows.Next() {
		var seq int64
		var e ledgerEvent
		if err := rows.Scan(&seq, &e.hash, &e.correlationID); err != nil {
			return nil, err
		}
		out[seq-first] = append(out[seq-first], e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, b := range batches {
		hashes := make([][]byte, len(out[i]))
		for j, e := range out[i] {
			hashes[j] = e.hash
		}
		if len(hashes) != b.count || !bytes.Equal(integrity.EventsDigest(hashes), b.digest) {
			return nil, fmt.Errorf("%w: batch %d holds %d events, ledger says %d or its digest differs", ErrLedger, b.seq, len(hashes), b.count)
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
