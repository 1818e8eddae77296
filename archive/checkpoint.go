package archive

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"function/shared/auditstore"
	"function/shared/integrity"
)

// checkpointPrefix holds the signed checkpoints of the hot chain's head.
// Hive readers skip "_" folders.
const checkpointPrefix = "audit_events/_checkpoints/"

// Checkpoint is a signed statement that batch Seq of the ledger had hash
// BatchHash at SignedAt. Stored under Object Lock, it pins the chain's head:
// deleting the newest batches and their events from PostgreSQL, which the
// chain alone cannot show, no longer matches the newest checkpoint.
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	BatchHash string `json:"batchHash"`
	SignedAt  string `json:"signedAt"`
	KeyID     string `json:"keyId"`
}

// CheckpointKey is where the checkpoint of ledger batch seq is stored; the
// zero padding makes the newest the last in key order. Its detached
// signature is at the same key plus ".sig".
func CheckpointKey(seq int64) string { return fmt.Sprintf("%s%020d.json", checkpointPrefix, seq) }

// checkpoint signs and stores (once) a checkpoint of the current ledger head.
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
	key := CheckpointKey(seq)
	if _, found, err := c.store.version(ctx, key); err != nil || found {
		return err
	}
	now := c.opts.Now()
	body, err := json.Marshal(Checkpoint{Seq: seq, BatchHash: hex.EncodeToString(hash),
		SignedAt: now.UTC().Format(integrity.TimeLayout), KeyID: c.signer.KeyID})
	if err != nil {
		return err
	}
	retain := now.AddDate(0, 0, c.retention)
	if err := c.publishKey(ctx, retain); err != nil {
		return err
	}
	if _, err := c.store.putBytes(ctx, key+".sig", c.signer.Sign(body), "application/octet-stream", retain); err != nil {
		return err
	}
	_, err = c.store.putBytes(ctx, key, body, "application/json", retain)
	return err
}

// CheckHead compares the ledger with the newest signed checkpoint and
// reports a truncated or rewritten head, or a checkpoint that does not
// verify. No checkpoint yet: nothing to report.
func (r *Reader) CheckHead(ctx context.Context) ([]auditstore.Finding, error) {
	latest := ""
	for obj := range r.store.c.ListObjects(ctx, r.store.bucket, minio.ListObjectsOptions{Prefix: checkpointPrefix}) {
		if obj.Err != nil {
			return nil, obj.Err
		}
		if strings.HasSuffix(obj.Key, ".json") && obj.Key > latest {
			latest = obj.Key
		}
	}
	if latest == "" {
		return nil, nil
	}
	body, err := r.store.getBytes(ctx, latest, "")
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		return []auditstore.Finding{{Problem: fmt.Sprintf("checkpoint %s is not a checkpoint: %v", latest, err)}}, nil
	}
	bad := func(format string, args ...any) ([]auditstore.Finding, error) {
		return []auditstore.Finding{{LedgerSeq: cp.Seq, Problem: fmt.Sprintf(format, args...)}}, nil
	}
	sig, err := r.store.getBytes(ctx, latest+".sig", "")
	if err != nil {
		return bad("checkpoint %s has no signature: %v", latest, err)
	}
	pemKey, err := r.store.getBytes(ctx, PublicKeyKey(cp.KeyID), "")
	if err != nil {
		return bad("checkpoint %s names key %s, which is not published", latest, cp.KeyID)
	}
	pub, err := ParsePublicKey(pemKey)
	if err != nil || !ed25519.Verify(pub, body, sig) {
		return bad("checkpoint %s does not verify with key %s", latest, cp.KeyID)
	}
	var head int64
	var hash []byte
	err = r.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit.ledger`).Scan(&head)
	if err != nil {
		return nil, err
	}
	err = r.pool.QueryRow(ctx, `SELECT batch_hash FROM audit.ledger WHERE seq = $1`, cp.Seq).Scan(&hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return bad("ledger truncated: batch %d was signed at %s, the ledger now ends at batch %d", cp.Seq, cp.SignedAt, head)
	case err != nil:
		return nil, err
	case hex.EncodeToString(hash) != cp.BatchHash:
		return bad("batch %d differs from its checkpoint signed at %s", cp.Seq, cp.SignedAt)
	}
	return nil, nil
}
