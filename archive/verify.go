package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"function/shared/auditevent"
	"function/shared/integrity"
)

// verify reads part p's object and manifest back from the bucket and checks
// them against PostgreSQL: the object's size and SHA-256, every row's
// ledger position and event hash against the hot row in the same place,
// every row's content against its event hash, the row count and the time
// range; the manifest's SHA-256, signature and its entry for p.
func (c *Compactor) verify(ctx context.Context, p *partState) error {
	f, err := os.CreateTemp(c.opts.TempDir, "auditfn-verify-*.parquet")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bufio.NewWriterSize(f, 1<<20)
	size, sum, err := c.store.get(ctx, p.Key, p.VersionID, buf)
	if err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	if size != p.Size || !bytes.Equal(sum, p.SHA256) {
		return fmt.Errorf("%s read back as %d bytes, SHA-256 %x; stored as %d bytes, %x", p.Key, size, sum, p.Size, p.SHA256)
	}
	if err := c.checkRows(ctx, p, f); err != nil {
		return fmt.Errorf("%s: %w", p.Key, err)
	}
	return c.checkManifest(ctx, p)
}

// checkRows walks the Parquet rows and PostgreSQL's (ledger_seq,
// ledger_pos, event_hash) of the same range in the same order side by side,
// so memory stays bounded however large the part. Recomputing event hashes,
// the costly part, runs on every CPU.
func (c *Compactor) checkRows(ctx context.Context, p *partState, f *os.File) error {
	g, gctx := errgroup.WithContext(ctx)
	hot := make(chan []ledgerEntry, 4)
	g.Go(func() error {
		defer close(hot)
		batch := make([]ledgerEntry, 0, chunkRows)
		send := func() error {
			select {
			case hot <- batch:
				batch = make([]ledgerEntry, 0, chunkRows)
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		err := scanLedger(gctx, c.pool, p.Range, archiveOrder, func(e ledgerEntry) error {
			if batch = append(batch, e); len(batch) == cap(batch) {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		return err
	})
	g.Go(func() error {
		var (
			pending []ledgerEntry
			stats   contentStats
		)
		next := func() (ledgerEntry, bool) {
			if len(pending) == 0 {
				var ok bool
				if pending, ok = <-hot; !ok {
					return ledgerEntry{}, false
				}
			}
			e := pending[0]
			pending = pending[1:]
			return e, true
		}
		type chunk struct {
			first int64 // row number of recs[0]
			recs  []auditevent.Record
		}
		err := ordered(gctx,
			func(ctx context.Context, emit func(chunk) error) error {
				ch := chunk{recs: make([]auditevent.Record, 0, chunkRows)}
				err := ReadParquet(ctx, f, func(r *auditevent.Record) error {
					if ch.recs = append(ch.recs, *r); len(ch.recs) == chunkRows {
						err := emit(ch)
						ch = chunk{first: ch.first + chunkRows, recs: make([]auditevent.Record, 0, chunkRows)}
						return err
					}
					return nil
				})
				if err == nil && len(ch.recs) > 0 {
					err = emit(ch)
				}
				return err
			},
			func(ch chunk) error {
				for i := range ch.recs {
					r := &ch.recs[i]
					if !r.EventDate.Equal(p.Range.Day) {
						return fmt.Errorf("row %d: event_date %s", ch.first+int64(i), r.EventDate.Format(time.DateOnly))
					}
					if !bytes.Equal(integrity.EventHash(r), r.Hash) {
						return fmt.Errorf("row %d: event %s does not match its event_hash", ch.first+int64(i), r.ID)
					}
				}
				return nil
			},
			func(ch chunk) error {
				for i := range ch.recs {
					r := &ch.recs[i]
					e, ok := next()
					if !ok {
						return fmt.Errorf("archive holds more than the %d rows PostgreSQL has", stats.Rows)
					}
					if r.LedgerSeq != e.Seq || r.LedgerPos != e.Pos || !bytes.Equal(r.Hash, e.Hash) {
						return fmt.Errorf("row %d: archive has ledger (%d, %d) hash %x, PostgreSQL (%d, %d) hash %x",
							stats.Rows, r.LedgerSeq, r.LedgerPos, r.Hash, e.Seq, e.Pos, e.Hash)
					}
					stats.add(r.Time)
				}
				return nil
			})
		if err != nil {
			return err
		}
		if _, more := next(); more {
			return fmt.Errorf("PostgreSQL has more than the %d rows archived", stats.Rows)
		}
		if stats.Rows != p.Stats.Rows || !stats.MinEventTime.Equal(p.Stats.MinEventTime) || !stats.MaxEventTime.Equal(p.Stats.MaxEventTime) {
			return fmt.Errorf("archive holds %d rows from %s to %s, recorded %d from %s to %s", stats.Rows,
				formatTime(stats.MinEventTime), formatTime(stats.MaxEventTime),
				p.Stats.Rows, formatTime(p.Stats.MinEventTime), formatTime(p.Stats.MaxEventTime))
		}
		return nil
	})
	return g.Wait()
}

// checkManifest reads p's manifest, its signature and the published key
// back and checks them against what was recorded.
func (c *Compactor) checkManifest(ctx context.Context, p *partState) error {
	body, err := c.readBack(ctx, p.Manifest.Key)
	if err != nil {
		return err
	}
	if got := sha256Hex(body); got != hex.EncodeToString(p.Manifest.SHA256) {
		return fmt.Errorf("%s read back with SHA-256 %s, recorded %x", p.Manifest.Key, got, p.Manifest.SHA256)
	}
	sig, err := c.readBack(ctx, p.Manifest.Key+".sig")
	if err != nil {
		return err
	}
	pemKey, err := c.readBack(ctx, PublicKeyKey(c.signer.KeyID))
	if err != nil {
		return err
	}
	pub, err := ParsePublicKey(pemKey)
	if err != nil {
		return fmt.Errorf("published key: %w", err)
	}
	if !pub.Equal(c.signer.Public()) || !ed25519.Verify(pub, body, sig) {
		return fmt.Errorf("%s: signature does not verify with the published key", p.Manifest.Key)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%s: %w", p.Manifest.Key, err)
	}
	if m.ChainSeq != p.Manifest.Seq || len(m.Parts) != p.Part {
		return fmt.Errorf("%s: chain position %d with %d parts, want %d with %d", p.Manifest.Key, m.ChainSeq, len(m.Parts), p.Manifest.Seq, p.Part)
	}
	got := m.Parts[p.Part-1]
	want := ManifestPart{Part: p.Part, Key: p.Key, VersionID: p.VersionID, Size: p.Size, SHA256: hex.EncodeToString(p.SHA256),
		RowCount: p.Stats.Rows, MinEventTime: formatTime(p.Stats.MinEventTime), MaxEventTime: formatTime(p.Stats.MaxEventTime),
		LedgerSeqAfter: p.Range.After, LedgerSeqThrough: p.Range.Through, EventsDigest: hex.EncodeToString(p.Digest)}
	if got != want {
		return fmt.Errorf("%s: entry for part %d is %+v, want %+v", p.Manifest.Key, p.Part, got, want)
	}
	return nil
}

// readBack reads the one stored version of a small object.
func (c *Compactor) readBack(ctx context.Context, key string) ([]byte, error) {
	info, ok, err := c.store.version(ctx, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(key + " is missing")
	}
	return c.store.getBytes(ctx, key, info.VersionID)
}
