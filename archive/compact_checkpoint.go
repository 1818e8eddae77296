package archive

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"function/archive/format"
	"function/shared/integrity"
)

// checkpoint signs and stores (once) a checkpoint of the current ledger head
// (format.Checkpoint), locked for the retention from now. The body goes
// first and its signature after: a run that stops between the two leaves a
// body whose signature the next run writes (ed25519 signs deterministically,
// so a retry writes the same bytes), rather than a signature of a body that
// no run can write again.
func (c *Compactor) checkpoint(ctx context.Context) error {
	var seq int64
	var hash []byte
	err := c.pool.QueryRow(ctx, `SELECT seq, batch_hash FROM audit.ledger ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger head: %w", err)
	}
	if err := c.signUnsigned(ctx); err != nil {
		return err
	}
	key := format.CheckpointKey(seq)
	if _, found, err := c.store.Version(ctx, key); err != nil || found {
		return err
	}
	now := c.opts.Now()
	body, err := json.Marshal(format.Checkpoint{Seq: seq, BatchHash: hex.EncodeToString(hash),
		SignedAt: now.UTC().Format(integrity.TimeLayout), KeyID: c.signer.KeyID})
	if err != nil {
		return err
	}
	retain := now.AddDate(0, 0, c.retention)
	if err := c.publishKey(ctx, retain); err != nil {
		return err
	}
	if _, err := c.store.PutBytes(ctx, key, body, "application/json", retain); err != nil {
		return err
	}
	if err := c.hook(AfterCheckpoint, time.Time{}, 0); err != nil {
		return err
	}
	_, err = c.store.PutBytes(ctx, format.SignatureKey(key), c.signer.Sign(body), "application/octet-stream", retain)
	return err
}

// signUnsigned writes the signature of the newest checkpoint if a stopped
// run left it without one. Only the newest can lack it: a run writes a new
// checkpoint only after this.
func (c *Compactor) signUnsigned(ctx context.Context) error {
	listed, err := c.store.List(ctx, format.CheckpointPrefix)
	if err != nil {
		return err
	}
	var newest string
	signed := map[string]bool{}
	for _, o := range listed {
		if key, ok := strings.CutSuffix(o.Key, ".sig"); ok {
			signed[key] = true
		} else if strings.HasSuffix(o.Key, ".json") {
			newest = max(newest, o.Key)
		}
	}
	if newest == "" || signed[newest] {
		return nil
	}
	info, _, err := c.store.Version(ctx, newest)
	if err != nil {
		return err
	}
	body, err := c.store.GetBytes(ctx, newest, info.VersionID)
	if err != nil {
		return err
	}
	var cp format.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil || cp.KeyID != c.signer.KeyID {
		return fmt.Errorf("checkpoint %s has no signature, and this compactor cannot sign it (%v): an operator must look", newest, err)
	}
	_, err = c.store.PutBytes(ctx, format.SignatureKey(newest), c.signer.Sign(body), "application/octet-stream", c.opts.Now().AddDate(0, 0, c.retention))
	return err
}
