package archive

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"function/archive/format"
	"function/shared/integrity"
)

// checkpoint signs and stores (once) a checkpoint of the current ledger head
// (format.Checkpoint), locked like the newest day's objects.
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
	if _, err := c.store.PutBytes(ctx, format.SignatureKey(key), c.signer.Sign(body), "application/octet-stream", retain); err != nil {
		return err
	}
	_, err = c.store.PutBytes(ctx, key, body, "application/json", retain)
	return err
}
