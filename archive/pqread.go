package archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"

	"function/shared/auditevent"
)

// ReadParquet streams the rows of an archive part, in file order, to fn. The
// file must have exactly the archive's columns and types. fn may keep a copy
// of the record; the pointer is reused.
func ReadParquet(ctx context.Context, r parquet.ReaderAtSeeker, fn func(*auditevent.Record) error) error {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return fmt.Errorf("not a Parquet file: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	sc, err := fr.Schema()
	if err != nil {
		return err
	}
	if err := checkSchema(sc); err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	var rec auditevent.Record
	for rr.Next() {
		b := rr.RecordBatch()
		id := b.Column(colEventID).(*array.String)
		evTime := b.Column(colEventTime).(*array.Timestamp)
		date := b.Column(colEventDate).(*array.Date32)
		data := b.Column(colEventData).(*array.String)
		recv := b.Column(colReceivedAt).(*array.Timestamp)
		seq := b.Column(colLedgerSeq).(*array.Int64)
		pos := b.Column(colLedgerPos).(*array.Int32)
		hash := b.Column(colEventHash).(*array.Binary)
		text := make([]*array.String, len(colText))
		for i, c := range colText {
			text[i] = b.Column(c).(*array.String)
		}
		for i := range int(b.NumRows()) {
			if rec.ID, err = uuid.Parse(id.Value(i)); err != nil {
				return fmt.Errorf("row %d: event_id: %w", i, err)
			}
			rec.Time = time.UnixMicro(int64(evTime.Value(i))).UTC()
			rec.EventDate = date.Value(i).ToTime()
			for j, c := range textColumns {
				*c.ref(&rec) = strings.Clone(text[j].Value(i))
			}
			rec.Data = []byte(data.Value(i))
			rec.ReceivedAt = time.UnixMicro(int64(recv.Value(i))).UTC()
			rec.LedgerSeq, rec.LedgerPos = seq.Value(i), pos.Value(i)
			rec.Hash = append([]byte(nil), hash.Value(i)...)
			if err := fn(&rec); err != nil {
				return err
			}
		}
	}
	return rr.Err()
}

// checkSchema accepts only the archive's own columns, so a foreign or
// truncated file fails before any row is trusted.
func checkSchema(sc *arrow.Schema) error {
	if sc.NumFields() != Schema.NumFields() {
		return fmt.Errorf("archive part has %d columns, want %d", sc.NumFields(), Schema.NumFields())
	}
	for i, f := range Schema.Fields() {
		got := sc.Field(i)
		if got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) || got.Nullable != f.Nullable {
			return fmt.Errorf("archive part column %d is %s %s, want %s %s", i, got.Name, got.Type, f.Name, f.Type)
		}
	}
	return nil
}

// readBatchRows is the rows decoded at a time: small batches reuse warm
// buffers instead of growing large ones.
const readBatchRows = 8 << 10
