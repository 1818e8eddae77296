package tlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/sync/errgroup"

	"function/archive/bucket"
	"function/archive/format"
)

// publishLock keeps one publisher at a time across collector replicas.
const publishLock = 0x7075626c // "publ"

// uploads is how many objects the publisher sends at once.
const uploads = 8

// Publisher integrates new ledger batches (each integration signs its
// checkpoint), has witnesses cosign the newest, and publishes the
// checkpoints and the full tiles to the bucket: tiles first, so a
// published checkpoint's tiles are there.
type Publisher struct {
	Pool   *pgxpool.Pool
	Signer *Signer
	// Store is the Object Lock bucket; nil keeps checkpoints in PostgreSQL
	// only (no archive configured).
	Store *bucket.Store
	// Retention is how long published objects stay locked.
	Retention time.Duration
	// KeyKey and KeyPEM are where and what the public key is, published
	// beside the checkpoints and locked as long as the newest.
	KeyKey string
	KeyPEM []byte
	Logger *slog.Logger
	Now    func() time.Time

	// Witnesses is the witness policy whose witnesses cosign each new
	// checkpoint (witness.go); nil: none.
	Witnesses *witness.Group
	// HTTPClient reaches the witnesses (default: a 10 s timeout;
	// ClientFromSettings).
	HTTPClient *http.Client
	// Pushes counts the pushes to witnesses by witness and result
	// (cosigned, refused, failed), when set.
	Pushes *prometheus.CounterVec
	// Steps counts the publisher's steps by result (ok, failed: a failing
	// tree leaves the newest events unanchored; alert on it), and Leaves
	// is the tree's size after the last good one, when set.
	Steps  *prometheus.CounterVec
	Leaves prometheus.Gauge

	mu        sync.Mutex
	witnesses map[string]*witnessState // by add-checkpoint URL
	shown     []byte                   // the note last put at TreeLatestKey (after a start: put again once)
	keyLocked time.Time                // how long this process has locked the public key
}

// Step brings the tree up to the ledger, with its checkpoints, and
// publishes what is not yet in the bucket. It returns the head.
func (p *Publisher) Step(ctx context.Context) (Head, error) {
	head, err := CatchUp(ctx, p.Pool, p.Signer)
	if err != nil || head.Size == 0 {
		return head, err
	}
	// Before publishing, so that a checkpoint the witnesses answer at once
	// is published cosigned; a slow witness delays it by the client's
	// timeout at most.
	p.witness(ctx)
	if p.Store == nil {
		return head, nil
	}
	return head, p.publish(ctx)
}

// publish uploads the checkpoints and full tiles not yet in the bucket, and
// the newest checkpoint again when witnesses have cosigned it since.
func (p *Publisher) publish(ctx context.Context) error {
	tx, err := p.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, publishLock).Scan(&got); err != nil || !got {
		return err // another replica is publishing
	}
	var published uint64
	if err := tx.QueryRow(ctx, `SELECT published FROM audit.tree_head`).Scan(&published); err != nil {
		return err
	}
	newest, err := Latest(ctx, tx)
	if err == ErrNoCheckpoint {
		return nil
	}
	if err != nil {
		return err
	}
	cps, err := Checkpoints(ctx, tx, published, newest.Size)
	if err != nil {
		return err
	}
	if len(cps) == 0 && (newest.Cosignatures == 0 || bytes.Equal(newest.Note, p.shown)) {
		return nil
	}
	keys := fullTiles(published, newest.Size)
	tiles, err := readTiles(ctx, tx, keys)
	if err != nil {
		return err
	}
	until := p.now().Add(p.Retention)
	// Several uploads at once: after a bulk load or an outage there is one
	// tile per 256 leaves to send, each a round trip.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(uploads)
	for k := range keys {
		t := tiles[k]
		if len(t) != TileWidth*hashSize {
			return fmt.Errorf("tile %d/%d holds %d hashes, expected a full tile", k.level, k.idx, len(t)/hashSize)
		}
		g.Go(func() error {
			_, err := p.Store.PutBytes(gctx, format.TreePrefix+TilePath(k.level, k.idx, TileWidth), t, "application/octet-stream", until)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, cp := range cps {
		if _, err := p.Store.PutBytes(ctx, format.TreeCheckpointKey(cp.Size), cp.Note, "text/plain; charset=utf-8", until); err != nil {
			return err
		}
	}
	// The numbered key holds the log's note, written once; the cosigned
	// one gets a new version as cosignatures arrive.
	if newest.Cosignatures > 0 {
		if err := p.Store.PutVersion(ctx, format.TreeCosignedKey(newest.Size), newest.Note, "text/plain; charset=utf-8", until); err != nil {
			return err
		}
	}
	if err := p.Store.PutVersion(ctx, format.TreeLatestKey, newest.Note, "text/plain; charset=utf-8", until); err != nil {
		return err
	}
	if err := p.publishKey(ctx, until); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE audit.tree_head SET published = $1`, newest.Size); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	p.shown = newest.Note
	return nil
}

// keyLockAhead is how far beyond the newest checkpoint's lock the public
// key is locked when its lock is extended, so that it is not extended (a
// read and a write) at every step.
const keyLockAhead = 24 * time.Hour

// publishKey puts the public key in the bucket once per process and keeps
// it locked at least until `until`, the newest checkpoint's lock.
func (p *Publisher) publishKey(ctx context.Context, until time.Time) error {
	if p.KeyKey == "" {
		return nil
	}
	p.mu.Lock()
	locked := p.keyLocked
	p.mu.Unlock()
	if !until.After(locked) {
		return nil
	}
	version, err := p.Store.PutBytes(ctx, p.KeyKey, p.KeyPEM, "application/x-pem-file", until)
	if err != nil {
		return err
	}
	locked = until.Add(keyLockAhead)
	if err := p.Store.ExtendRetention(ctx, p.KeyKey, version, locked); err != nil {
		return err
	}
	p.mu.Lock()
	p.keyLocked = locked
	p.mu.Unlock()
	return nil
}

// fullTiles are the tiles that became full as the tree grew from size1 to
// size2 leaves.
func fullTiles(size1, size2 uint64) map[tileKey]bool {
	out := map[tileKey]bool{}
	for level, a, b := uint64(0), size1, size2; b >= TileWidth; level, a, b = level+1, a>>TileHeight, b>>TileHeight {
		for idx := a / TileWidth; idx < b/TileWidth; idx++ {
			out[tileKey{level, idx}] = true
		}
	}
	return out
}

// Run steps every interval until ctx ends, then once more, so events
// stored before a shutdown get their checkpoint.
func (p *Publisher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.step(final)
			return
		case <-t.C:
			p.step(ctx)
		}
	}
}

func (p *Publisher) step(ctx context.Context) {
	head, err := p.Step(ctx)
	switch {
	case err == nil:
		p.count("ok")
		if p.Leaves != nil {
			p.Leaves.Set(float64(head.Size))
		}
	case ctx.Err() == nil:
		p.count("failed")
		p.logger().Error("tree checkpoint", "err", err)
	}
}

func (p *Publisher) count(result string) {
	if p.Steps != nil {
		p.Steps.WithLabelValues(result).Inc()
	}
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}
