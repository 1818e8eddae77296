package format

import (
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"function/shared/auditevent"
)

// batchRows is how many rows are gathered into one Arrow record before they
// are encoded into the current row group.
const batchRows = 8 << 10

// ContentStats describes the rows of a part: how many, and their event times.
type ContentStats struct {
	Rows         int64
	MinEventTime time.Time
	MaxEventTime time.Time
}

func (s *ContentStats) Add(t time.Time) {
	if s.Rows == 0 || t.Before(s.MinEventTime) {
		s.MinEventTime = t
	}
	if s.Rows == 0 || t.After(s.MaxEventTime) {
		s.MaxEventTime = t
	}
	s.Rows++
}

// Writer encodes records, in the order given, as one archive part file.
type Writer struct {
	fw   *pqarrow.FileWriter
	rb   *array.RecordBuilder
	text []*array.StringBuilder // textColumns
	n    int
	// Stats describe the rows added so far.
	Stats ContentStats
}

func NewWriter(w io.Writer) (*Writer, error) {
	// Hide any Close method: pqarrow closes a writer that has one.
	fw, err := pqarrow.NewFileWriter(Schema, struct{ io.Writer }{w}, writerProperties(), arrowWriterProperties())
	if err != nil {
		return nil, err
	}
	pw := &Writer{fw: fw, rb: array.NewRecordBuilder(memory.DefaultAllocator, Schema)}
	for _, i := range colText {
		pw.text = append(pw.text, pw.rb.Field(i).(*array.StringBuilder))
	}
	pw.rb.Reserve(batchRows)
	return pw, nil
}

// Add appends one row.
func (pw *Writer) Add(r *auditevent.Record) error {
	b := pw.rb
	b.Field(colEventID).(*array.StringBuilder).Append(r.ID.String())
	b.Field(colEventTime).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Time.UnixMicro()))
	b.Field(colEventDate).(*array.Date32Builder).Append(arrow.Date32FromTime(r.EventDate))
	for i, c := range textColumns {
		pw.text[i].Append(*c.ref(r))
	}
	b.Field(colEventData).(*array.StringBuilder).BinaryBuilder.Append(r.Data)
	b.Field(colReceivedAt).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ReceivedAt.UnixMicro()))
	b.Field(colLedgerSeq).(*array.Int64Builder).Append(r.LedgerSeq)
	b.Field(colLedgerPos).(*array.Int32Builder).Append(r.LedgerPos)
	b.Field(colEventHash).(*array.BinaryBuilder).Append(r.Hash)
	if salt := b.Field(colEventSalt).(*array.BinaryBuilder); r.Salt == nil {
		salt.AppendNull()
	} else {
		salt.Append(r.Salt)
	}
	pw.Stats.Add(r.Time)
	if pw.n++; pw.n == batchRows {
		return pw.flush()
	}
	return nil
}

// flush encodes the gathered rows, starting a new row group when the current
// one has reached rowGroupRows (WriteBuffered splits there) or rowGroupBytes.
func (pw *Writer) flush() error {
	if pw.n == 0 {
		return nil
	}
	// Size the next batch's buffers like this one's: growing them row by
	// row costs more than encoding.
	dataLen := make([]int, Schema.NumFields())
	for i, b := range pw.rb.Fields() {
		if bb, ok := b.(interface{ DataLen() int }); ok {
			dataLen[i] = bb.DataLen()
		}
	}
	rec := pw.rb.NewRecordBatch()
	defer rec.Release()
	pw.n = 0
	pw.rb.Reserve(batchRows)
	for i, b := range pw.rb.Fields() {
		if bb, ok := b.(interface{ ReserveData(int) }); ok && dataLen[i] > 0 {
			bb.ReserveData(dataLen[i] + dataLen[i]/8)
		}
	}
	if pw.fw.RowGroupTotalCompressedBytes() >= rowGroupBytes {
		if err := pw.fw.NewBufferedRowGroupChecked(); err != nil {
			return err
		}
	}
	return pw.fw.WriteBuffered(rec)
}

// Close writes the footer; the file is complete once it returns nil.
func (pw *Writer) Close() error {
	defer pw.rb.Release()
	if err := pw.flush(); err != nil {
		pw.fw.Close()
		return err
	}
	return pw.fw.Close()
}

func (s *ContentStats) Merge(o ContentStats) {
	if o.Rows == 0 {
		return
	}
	if s.Rows == 0 || o.MinEventTime.Before(s.MinEventTime) {
		s.MinEventTime = o.MinEventTime
	}
	if s.Rows == 0 || o.MaxEventTime.After(s.MaxEventTime) {
		s.MaxEventTime = o.MaxEventTime
	}
	s.Rows += o.Rows
}
