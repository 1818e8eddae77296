package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/pokt-network/smt/kvstore"

	"function/shared/pgdb"
	"function/shared/trail"
)

// nodes is the trail map's node store over audit.trail_nodes, read in one
// transaction (or snapshot) and written at its end: the trie reads a node
// per level, writes on Commit, and must see its own writes.
type nodes struct {
	ctx context.Context
	q   pgdb.Querier
	set map[string][]byte
	del map[string]bool
	// cached: the integrator keeps the nodes it read or wrote across
	// transactions; a reader reads the rows, so that it reports them.
	cached bool
}

var _ kvstore.MapStore = (*nodes)(nil)

func newNodes(ctx context.Context, q pgdb.Querier, cached bool) *nodes {
	return &nodes{ctx: ctx, q: q, set: map[string][]byte{}, del: map[string]bool{}, cached: cached}
}

// errNoNode means a node the map's root leads to is not stored: the rows
// are not the map of that root.
var errNoNode = errors.New("trail index node not stored")

func (n *nodes) Get(digest []byte) ([]byte, error) {
	if v, ok := n.set[string(digest)]; ok {
		return v, nil
	}
	if v, ok := cache.get(digest); ok && n.cached {
		return v, nil
	}
	rows, err := n.q.Query(n.ctx, `SELECT node FROM audit.trail_nodes WHERE digest = $1`, digest)
	if err != nil {
		return nil, err
	}
	v, err := pgx.CollectOneRow(rows, pgx.RowTo[[]byte])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %x", errNoNode, digest)
	}
	if err != nil {
		return nil, err
	}
	// The trie trusts a node to be what its digest says; a row altered
	// under its digest would otherwise change the map the integrator signs.
	if d, ok := nodeDigest(v); !ok || !bytes.Equal(d, digest) {
		return nil, fmt.Errorf("%w: trail index node %x is not the node of that digest", ErrLedger, digest)
	}
	if n.cached {
		cache.put(digest, v)
	}
	return v, nil
}

// nodeDigest is the digest of an encoded trie node: SHA-256 of a leaf
// (0x00 ‖ path ‖ value) or an inner node (0x01 ‖ left ‖ right); an
// extension (0x02 ‖ start ‖ end ‖ path ‖ child) stands for the inner nodes
// from bit start to end of path, each with an empty other side.
func nodeDigest(node []byte) ([]byte, bool) {
	switch {
	case len(node) == 0:
		return nil, false
	case node[0] == 0 || node[0] == 1:
		d := sha256.Sum256(node)
		return d[:], true
	case node[0] != 2 || len(node) != 3+2*sha256.Size:
		return nil, false
	}
	start, end, path := int(node[1]), int(node[2]), node[3:3+sha256.Size]
	cur := node[3+sha256.Size:]
	empty := make([]byte, sha256.Size)
	for i := end - 1; i >= start; i-- {
		left, right := cur, empty
		if path[i/8]>>(7-i%8)&1 == 1 {
			left, right = empty, cur
		}
		d := sha256.Sum256(append(append([]byte{1}, left...), right...))
		cur = d[:]
	}
	return cur, start < end
}

func (n *nodes) Set(digest, node []byte) error {
	n.set[string(digest)] = node
	delete(n.del, string(digest))
	return nil
}

func (n *nodes) Delete(digest []byte) error {
	n.del[string(digest)] = true
	delete(n.set, string(digest))
	return nil
}

func (n *nodes) Len() (int, error) { return 0, errors.ErrUnsupported }
func (n *nodes) ClearAll() error   { return errors.ErrUnsupported }

// flush writes what the trie committed: through a temporary table by
// COPY, which takes a tenth of the time of binding the arrays.
func (n *nodes) flush(ctx context.Context, tx pgx.Tx) error {
	rows := make([][]any, 0, len(n.set)+len(n.del))
	for d := range n.del {
		rows = append(rows, []any{[]byte(d), nil})
	}
	for d, v := range n.set {
		rows = append(rows, []any{[]byte(d), v})
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS trail_flush (digest bytea, node bytea) ON COMMIT DELETE ROWS`); err != nil {
		return fmt.Errorf("trail index: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"trail_flush"}, []string{"digest", "node"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("trail index: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM audit.trail_nodes t USING trail_flush f WHERE f.node IS NULL AND t.digest = f.digest`); err != nil {
		return fmt.Errorf("trail index: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit.trail_nodes (digest, node)
		SELECT digest, node FROM trail_flush WHERE node IS NOT NULL ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("trail index: %w", err)
	}
	return nil
}

// cache keeps nodes read or written across transactions. Nodes are
// addressed by their digest, so a cached one is never stale. Two
// generations bound it: when the newer is full it becomes the older and
// the oldest is dropped; a node found in the older moves to the newer, so
// the nodes near the root, on every path, stay.
var cache = &nodeCache{cur: map[string][]byte{}}

const cacheNodes = 1 << 19 // per generation; a node is about 100 bytes

type nodeCache struct {
	mu       sync.Mutex
	cur, old map[string][]byte
}

func (c *nodeCache) get(d []byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[string(d)]; ok {
		return v, true
	}
	v, ok := c.old[string(d)]
	if ok {
		c.putLocked(d, v)
	}
	return v, ok
}

func (c *nodeCache) put(d, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(d, v)
}

func (c *nodeCache) putLocked(d, v []byte) {
	if len(c.cur) >= cacheNodes {
		c.old, c.cur = c.cur, make(map[string][]byte, cacheNodes)
	}
	c.cur[string(d)] = v
}

// trailUpdate is one event added to the map: its correlation id, leaf and
// event hash.
type trailUpdate struct {
	correlationID string
	leaf          uint64
	hash          []byte
}

// indexTrails adds the events to the map of root, in the order given (leaf
// order), and stores the nodes; it returns the new root.
func indexTrails(ctx context.Context, tx pgx.Tx, root []byte, events []trailUpdate) ([]byte, error) {
	store := newNodes(ctx, tx, true)
	m := trail.Open(store, root)
	entries := map[string]trail.Entry{}
	var order []string
	for _, u := range events {
		e, ok := entries[u.correlationID]
		if !ok {
			var err error
			if e, _, err = trail.Get(m, u.correlationID); err != nil {
				return nil, fmt.Errorf("trail index: %w", err)
			}
			order = append(order, u.correlationID)
		}
		entries[u.correlationID] = e.Extend(u.leaf, u.hash)
	}
	for _, id := range order {
		if err := m.Update([]byte(id), entries[id].Encode()); err != nil {
			return nil, fmt.Errorf("trail index: %w", err)
		}
	}
	if err := m.Commit(); err != nil {
		return nil, fmt.Errorf("trail index: %w", err)
	}
	if err := store.flush(ctx, tx); err != nil {
		return nil, err
	}
	for d, v := range store.set {
		cache.put([]byte(d), v)
	}
	return m.Root(), nil
}

// TrailProof is correlationID's entry (nil: none) in the map of root and
// its proof, read through q: a snapshot in which root is the stored map's
// (the newest checkpoint's, read in the same snapshot).
func TrailProof(ctx context.Context, q pgdb.Querier, root []byte, correlationID string) (*trail.Entry, trail.Proof, error) {
	return trail.Prove(trail.Open(newNodes(ctx, q, false), root), correlationID)
}
