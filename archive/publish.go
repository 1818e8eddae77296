package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"function/shared/integrity"
)

// publishManifest stores the manifest of the day covering parts 1..p, its
// signature and the public key, chained to the newest manifest. A manifest a
// crashed run stored is adopted if it is exactly the one this run would
// write.
func (c *Compactor) publishManifest(ctx context.Context, p *partState) error {
	d := p.Range.Day
	parts, err := loadParts(ctx, c.pool, d)
	if err != nil {
		return err
	}
	if len(parts) == 0 || parts[len(parts)-1].Part != p.Part {
		return fmt.Errorf("part %d is not the newest part of the day", p.Part)
	}
	head, err := chainHead(ctx, c.pool)
	if err != nil {
		return err
	}
	retain := c.retainUntil(d)
	if err := c.publishKey(ctx, retain); err != nil {
		return err
	}
	key := ManifestKey(d, p.Part)
	info, exists, err := c.store.version(ctx, key)
	if err != nil {
		return err
	}
	var body []byte
	if exists {
		if body, err = c.store.getBytes(ctx, key, info.VersionID); err != nil {
			return err
		}
		if err := c.matchesManifest(body, d, parts, head); err != nil {
			return fmt.Errorf("%s exists but %w; it cannot be replaced (Object Lock): an operator must look", key, err)
		}
	} else {
		body = buildManifest(d, parts, head, c.signer, c.opts.Now(), retain).encode()
		if _, err := c.store.putBytes(ctx, key, body, "application/json", retain); err != nil {
			return err
		}
	}
	// ed25519 signatures are deterministic: a retry writes the same bytes.
	if _, err := c.store.putBytes(ctx, key+".sig", c.signer.Sign(body), "application/octet-stream", retain); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	p.Manifest = manifestRef{Seq: head.Seq + 1, Key: key, SHA256: sum[:]}
	return nil
}

// matchesManifest tells whether body is the manifest this run would write
// for parts after head, whenever it was written.
func (c *Compactor) matchesManifest(body []byte, d time.Time, parts []partState, head manifestRef) error {
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("is not a manifest: %w", err)
	}
	created, err := time.Parse(integrity.TimeLayout, m.CreatedAt)
	if err != nil {
		return fmt.Errorf("has a bad createdAt: %w", err)
	}
	retain, err := time.Parse(time.RFC3339, m.RetainUntil)
	if err != nil {
		return fmt.Errorf("has a bad retainUntil: %w", err)
	}
	if !bytes.Equal(body, buildManifest(d, parts, head, c.signer, created, retain).encode()) {
		return errors.New("describes other parts or another place in the chain")
	}
	return nil
}

// publishKey stores the public key beside the manifests once, and keeps it
// locked at least as long as the newest manifest it verifies.
func (c *Compactor) publishKey(ctx context.Context, retain time.Time) error {
	key := PublicKeyKey(c.signer.KeyID)
	v, err := c.store.putBytes(ctx, key, c.signer.PublicPEM, "application/x-pem-file", retain)
	if err != nil {
		return err
	}
	return c.store.extendRetention(ctx, key, v, retain)
}
