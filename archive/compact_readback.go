package archive

import (
	"bytes"
	"context"
	"fmt"

	"function/archive/format"
	"function/shared/verify"
)

// verify reads part p's object and manifest back from the bucket and checks
// them, through the one verifier, against what was recorded and against
// PostgreSQL: the manifest's signature with the published key, its SHA-256,
// chain position and entry for p; the object's size and SHA-256; every row's
// content against its event hash, its day, and its ledger position and hash
// against the hot row in the same place, in order.
func (c *Compactor) verify(ctx context.Context, p *partState) error {
	hot := func(ctx context.Context, fn func(seq int64, pos int32, hash []byte) error) error {
		return scanLedger(ctx, c.pool, p.Range, archiveOrder, fn)
	}
	m, err := verify.Part(ctx, verify.Bucket(c.store, c.opts.TempDir), p.Manifest.Key, manifestPart(p), hot)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Key, err)
	}
	switch {
	case !bytes.Equal(m.SHA256[:], p.Manifest.SHA256):
		return fmt.Errorf("%s read back with SHA-256 %x, recorded %x", p.Manifest.Key, m.SHA256, p.Manifest.SHA256)
	case m.SigningKey.KeyID != c.signer.KeyID || m.SigningKey.Key != format.PublicKeyKey(c.signer.KeyID):
		return fmt.Errorf("%s is signed with key %s, not this compactor's %s", p.Manifest.Key, m.SigningKey.KeyID, c.signer.KeyID)
	case m.ChainSeq != p.Manifest.Seq || len(m.Parts) != p.Part:
		return fmt.Errorf("%s: chain position %d with %d parts, want %d with %d", p.Manifest.Key, m.ChainSeq, len(m.Parts), p.Manifest.Seq, p.Part)
	}
	return nil
}
