package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"function/archive/format"
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
	key := format.ManifestKey(d, p.Part)
	info, exists, err := c.store.Version(ctx, key)
	if err != nil {
		return err
	}
	var body []byte
	if exists {
		if body, err = c.store.GetBytes(ctx, key, info.VersionID); err != nil {
			return err
		}
		if err := c.matchesManifest(body, d, parts, head); err != nil {
			return fmt.Errorf("%s exists but %w; it cannot be replaced (Object Lock): an operator must look", key, err)
		}
	} else {
		body = buildManifest(d, parts, head, c.signer, c.opts.Now(), retain).Encode()
		if _, err := c.store.PutBytes(ctx, key, body, "application/json", retain); err != nil {
			return err
		}
	}
	// ed25519 signatures are deterministic: a retry writes the same bytes.
	if _, err := c.store.PutBytes(ctx, format.SignatureKey(key), c.signer.Sign(body), "application/octet-stream", retain); err != nil {
		return err
	}
	// Before the part is recorded as manifested: a crash here repeats it.
	if err := c.holdManifests(ctx, d); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	p.Manifest = manifestRef{Seq: head.Seq + 1, Key: key, SHA256: sum[:]}
	return nil
}

// matchesManifest tells whether body is the manifest this run would write
// for parts after head, whenever it was written.
func (c *Compactor) matchesManifest(body []byte, d time.Time, parts []partState, head manifestRef) error {
	var m format.Manifest
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
	if !bytes.Equal(body, buildManifest(d, parts, head, c.signer, created, retain).Encode()) {
		return errors.New("describes other parts or another place in the chain")
	}
	return nil
}

// publishKey stores the public key beside the manifests once, and keeps it
// locked at least as long as the newest manifest it verifies.
func (c *Compactor) publishKey(ctx context.Context, retain time.Time) error {
	key := format.PublicKeyKey(c.signer.KeyID)
	v, err := c.store.PutBytes(ctx, key, c.signer.PublicPEM, "application/x-pem-file", retain)
	if err != nil {
		return err
	}
	return c.store.ExtendRetention(ctx, key, v, retain)
}

// buildManifest describes parts (every part of day d so far, in order) as the
// manifest following head in the chain.
func buildManifest(d time.Time, parts []partState, head manifestRef, s *Signer, createdAt, retain time.Time) format.Manifest {
	m := format.Manifest{
		Format: format.ManifestFormat, Table: "audit.audit_events", EventDate: d.Format(time.DateOnly),
		Version: len(parts), ChainSeq: head.Seq + 1,
		CreatedAt: format.FormatTime(createdAt), RetainUntil: retain.UTC().Format(time.RFC3339),
		SigningKey: format.KeyRef{Algorithm: "ed25519", KeyID: s.KeyID, Key: format.PublicKeyKey(s.KeyID)},
	}
	if head.Seq > 0 {
		m.Previous = &format.ManifestLink{ChainSeq: head.Seq, Key: head.Key, SHA256: hex.EncodeToString(head.SHA256)}
	}
	var all format.ContentStats
	for i := range parts {
		m.Parts = append(m.Parts, manifestPart(&parts[i]))
		all.Merge(parts[i].Stats)
	}
	m.RowCount, m.MinEventTime, m.MaxEventTime = all.Rows, format.FormatTime(all.MinEventTime), format.FormatTime(all.MaxEventTime)
	return m
}

// manifestPart is the manifest's entry for p.
func manifestPart(p *partState) format.ManifestPart {
	return format.ManifestPart{
		Part: p.Part, Key: p.Key, VersionID: p.VersionID, Size: p.Size, SHA256: hex.EncodeToString(p.SHA256),
		RowCount: p.Stats.Rows, MinEventTime: format.FormatTime(p.Stats.MinEventTime), MaxEventTime: format.FormatTime(p.Stats.MaxEventTime),
		LedgerSeqAfter: p.Range.After, LedgerSeqThrough: p.Range.Through, EventsDigest: hex.EncodeToString(p.Digest),
	}
}
