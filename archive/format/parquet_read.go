package format

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"

	"function/shared/auditevent"
)

// ReadParquet streams the rows of an archive part, in file order, to fn. The
// file must have exactly the archive's columns and types. fn may keep a copy
// of the record; the pointer is reused.
func ReadParquet(ctx context.Context, r parquet.ReaderAtSeeker, fn func(*auditevent.Record) error) error {
	return readColumns(ctx, r, nil, func(b arrow.RecordBatch) error { return eachRecord(b, fn) })
}

// readColumns streams record batches of the given columns (nil: all) of an
// archive part to fn, after checking the file has exactly the archive's
// columns and types.
func readColumns(ctx context.Context, r parquet.ReaderAtSeeker, cols []int, fn func(arrow.RecordBatch) error) error {
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
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		if err := fn(rr.RecordBatch()); err != nil {
			return err
		}
	}
	return rr.Err()
}

// LedgerPlaces calls fn with the event time, correlation id and ledger
// batch of every row of an archive part, reading only those columns: which
// batches hold a scope's events needs neither payloads nor hashes.
func LedgerPlaces(ctx context.Context, r parquet.ReaderAtSeeker, fn func(t time.Time, correlationID string, seq int64)) error {
	return readColumns(ctx, r, []int{colEventTime, colCorrelationID, colLedgerSeq}, func(b arrow.RecordBatch) error {
		evTime := b.Column(0).(*array.Timestamp)
		corr := b.Column(1).(*array.String)
		seq := b.Column(2).(*array.Int64)
		for i := range int(b.NumRows()) {
			fn(time.UnixMicro(int64(evTime.Value(i))).UTC(), corr.Value(i), seq.Value(i))
		}
		return nil
	})
}

// eachRecord calls fn for every row of a full-width record batch; the
// record pointer is reused.
func eachRecord(b arrow.RecordBatch, fn func(*auditevent.Record) error) error {
	var rec auditevent.Record
	var err error
	id := b.Column(colEventID).(*array.String)
	evTime := b.Column(colEventTime).(*array.Timestamp)
	date := b.Column(colEventDate).(*array.Date32)
	data := b.Column(colEventData).(*array.String)
	recv := b.Column(colReceivedAt).(*array.Timestamp)
	seq := b.Column(colLedgerSeq).(*array.Int64)
	pos := b.Column(colLedgerPos).(*array.Int32)
	hash := b.Column(colEventHash).(*array.Binary)
	var salt *array.Binary // nil in a part archived before salting
	if int(b.NumCols()) > colEventSalt {
		salt = b.Column(colEventSalt).(*array.Binary)
	}
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
		rec.Salt = nil
		if salt != nil && salt.IsValid(i) {
			rec.Salt = append([]byte(nil), salt.Value(i)...)
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return nil
}

// checkSchema accepts only the archive's own columns, so a foreign or
// truncated file fails before any row is trusted: all of them, or all but
// event_salt in a part archived before it existed.
func checkSchema(sc *arrow.Schema) error {
	if n := sc.NumFields(); n != Schema.NumFields() && n != colEventSalt {
		return fmt.Errorf("archive part has %d columns, want %d", sc.NumFields(), Schema.NumFields())
	}
	for i, f := range Schema.Fields()[:sc.NumFields()] {
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

// SeqRange reads, from a part's Parquet footer alone, the lowest and highest
// ledger_seq of its rows (the whole int64 range if a row group has no
// statistics).
func SeqRange(r parquet.ReaderAtSeeker) (first, last int64, err error) {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return 0, 0, fmt.Errorf("not a Parquet file: %w", err)
	}
	defer pf.Close()
	first, last = math.MaxInt64, math.MinInt64
	md := pf.MetaData()
	for i := range md.NumRowGroups() {
		cc, err := md.RowGroup(i).ColumnChunk(colLedgerSeq)
		if err != nil {
			return 0, 0, err
		}
		st, err := cc.Statistics()
		if err != nil {
			return 0, 0, err
		}
		seqs, ok := st.(*metadata.Int64Statistics)
		if !ok || !seqs.HasMinMax() {
			return math.MinInt64, math.MaxInt64, nil
		}
		first, last = min(first, seqs.Min()), max(last, seqs.Max())
	}
	return first, last, nil
}
