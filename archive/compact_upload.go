package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"function/archive/bucket"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/parallel"
)

// upload stores part p's object, or adopts the one a crashed run already
// stored (its content is checked by verify), and fills in the object's
// identity, size, SHA-256, row statistics and events digest.
func (c *Compactor) upload(ctx context.Context, p *partState) error {
	info, exists, err := c.store.Version(ctx, p.Key)
	if err != nil {
		return err
	}
	if !exists {
		// The digest comes from its own query; run it beside the writer.
		var (
			digest []byte
			rows   int64
		)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			digest, rows, err = eventsDigest(gctx, c.pool, p.Range)
			return err
		})
		g.Go(func() error { return c.writeAndPut(gctx, p) })
		err = g.Wait()
		if err == nil {
			return p.setDigest(digest, rows)
		}
		if !errors.Is(err, bucket.ErrExists) {
			return err
		}
		if info, exists, err = c.store.Version(ctx, p.Key); err != nil || !exists {
			return fmt.Errorf("%s: conditional put refused but no version found: %v", p.Key, err)
		}
	}
	if err := c.adopt(ctx, p, info); err != nil {
		return err
	}
	digest, rows, err := eventsDigest(ctx, c.pool, p.Range)
	if err != nil {
		return err
	}
	return p.setDigest(digest, rows)
}

// writeAndPut encodes the part's rows to a temporary file and stores it.
func (c *Compactor) writeAndPut(ctx context.Context, p *partState) error {
	f, err := os.CreateTemp(c.opts.TempDir, "auditfn-part-*.parquet")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	buf := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	pw, err := format.NewWriter(buf)
	if err != nil {
		return err
	}
	if err := encodeRows(ctx, c.pool, p.Range, pw); err != nil {
		_ = pw.Close()
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write Parquet: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	if pw.Stats.Rows == 0 {
		return fmt.Errorf("ledger range (%d, %d] holds no rows of the day", p.Range.After, p.Range.Through)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sum := h.Sum(nil)
	v, err := c.store.PutLocked(ctx, p.Key, f, size, sum, "application/vnd.apache.parquet", c.retainUntil(p.Range.Day))
	if err != nil {
		return err
	}
	p.VersionID, p.Size, p.SHA256, p.Stats = v, size, sum, pw.Stats
	return nil
}

// adopt takes the stored version as the part's object.
func (c *Compactor) adopt(ctx context.Context, p *partState, info minio.ObjectInfo) error {
	size, sum, err := c.store.Get(ctx, p.Key, info.VersionID, io.Discard)
	if err != nil {
		return err
	}
	p.VersionID, p.Size, p.SHA256 = info.VersionID, size, sum
	err = c.pool.QueryRow(ctx, `SELECT count(*), coalesce(min(event_time), 'epoch'), coalesce(max(event_time), 'epoch')`+rangeFilter,
		p.Range.args()...).Scan(&p.Stats.Rows, &p.Stats.MinEventTime, &p.Stats.MaxEventTime)
	p.Stats.MinEventTime, p.Stats.MaxEventTime = p.Stats.MinEventTime.UTC(), p.Stats.MaxEventTime.UTC()
	c.opts.Logger.Info("adopting archive object stored by an interrupted run", "key", p.Key, "version", info.VersionID)
	return err
}

// eventsDigest computes the events digest of r's rows from PostgreSQL:
// SHA-256 of their event hashes in (ledger_seq, ledger_pos) order.
func eventsDigest(ctx context.Context, q auditstore.Querier, r partRange) ([]byte, int64, error) {
	h := sha256.New()
	var n int64
	if err := scanLedger(ctx, q, r, ledgerOrder, func(_ int64, _ int32, hash []byte) error {
		h.Write(hash)
		n++
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("events digest: %w", err)
	}
	return h.Sum(nil), n, nil
}

// setDigest records the digest of rows events, which must be the rows of
// the object.
func (p *partState) setDigest(digest []byte, rows int64) error {
	if rows != p.Stats.Rows {
		return fmt.Errorf("events digest covers %d rows, the object %d", rows, p.Stats.Rows)
	}
	p.Digest = digest
	return nil
}

// encodeRows feeds the range's rows to pw in archive order. Canonicalising
// event_data costs more than reading or encoding a row, so it runs on every
// CPU between the reader and pw.
func encodeRows(ctx context.Context, q auditstore.Querier, r partRange, pw *format.Writer) error {
	return parallel.Ordered(ctx,
		func(ctx context.Context, emit func([]auditevent.Record) error) error {
			chunk := make([]auditevent.Record, 0, chunkRows)
			err := scanRecords(ctx, q, r, func(rec *auditevent.Record) error {
				if chunk = append(chunk, *rec); len(chunk) == chunkRows {
					err := emit(chunk)
					chunk = make([]auditevent.Record, 0, chunkRows)
					return err
				}
				return nil
			})
			if err == nil && len(chunk) > 0 {
				err = emit(chunk)
			}
			if err != nil {
				return fmt.Errorf("read rows: %w", err)
			}
			return nil
		},
		func(chunk []auditevent.Record) error {
			for i := range chunk {
				if err := auditstore.Canonicalize(&chunk[i]); err != nil {
					return err
				}
			}
			return nil
		},
		func(chunk []auditevent.Record) error {
			for i := range chunk {
				if err := pw.Add(&chunk[i]); err != nil {
					return fmt.Errorf("write Parquet: %w", err)
				}
			}
			return nil
		})
}
