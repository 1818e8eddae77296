package format

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"function/shared/auditevent"
	"function/shared/auditstore"
)

// utcMicros is how both timestamps are stored: Parquet TIMESTAMP(MICROS,
// isAdjustedToUTC=true), the precision at which they are stored and hashed.
var utcMicros = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// columnTypes maps each audit_events column to its archive type. event_id is
// a string (its canonical form in the event hash; Trino's Hive connector has
// no UUID type), event_data the canonical JSON text.
var columnTypes = map[string]arrow.DataType{
	"event_id": arrow.BinaryTypes.String, "event_time": utcMicros, "event_date": arrow.FixedWidthTypes.Date32,
	"event_type": arrow.BinaryTypes.String, "event_category": arrow.BinaryTypes.String,
	"event_action": arrow.BinaryTypes.String, "event_outcome": arrow.BinaryTypes.String,
	"source": arrow.BinaryTypes.String, "subject": arrow.BinaryTypes.String, "correlation_id": arrow.BinaryTypes.String,
	"actor_type": arrow.BinaryTypes.String, "actor_id": arrow.BinaryTypes.String,
	"resource_type": arrow.BinaryTypes.String, "resource_id": arrow.BinaryTypes.String,
	"namespace": arrow.BinaryTypes.String, "cluster_id": arrow.BinaryTypes.String,
	"workflow_id": arrow.BinaryTypes.String, "trace_parent": arrow.BinaryTypes.String,
	"event_data": arrow.BinaryTypes.String, "received_at": utcMicros,
	"ledger_seq": arrow.PrimitiveTypes.Int64, "ledger_pos": arrow.PrimitiveTypes.Int32,
	"event_hash": arrow.BinaryTypes.Binary, "event_salt": arrow.BinaryTypes.Binary,
}

// Schema is the archive's Arrow schema: the table's columns, in
// auditstore.Columns order, none nullable but event_salt (null for events
// hashed before salting, docs/integrity.md §10). It is the last column:
// parts archived before it existed have all the others.
var Schema = func() *arrow.Schema {
	fields := make([]arrow.Field, len(auditstore.Columns))
	for i, c := range auditstore.Columns {
		t, ok := columnTypes[c]
		if !ok {
			panic(fmt.Sprintf("format: no archive type for column %s", c))
		}
		fields[i] = arrow.Field{Name: c, Type: t, Nullable: c == "event_salt"}
	}
	return arrow.NewSchema(fields, nil)
}()

// Row group bounds: whichever is reached first closes a row group.
const (
	rowGroupRows  = 1 << 20
	rowGroupBytes = 128 << 20
)

func columnIndex(name string) int {
	idx := Schema.FieldIndices(name)
	if len(idx) != 1 {
		panic("format: no column " + name)
	}
	return idx[0]
}

// writerProperties: ZSTD, statistics, and the sort order recorded in every
// row group. Random columns (ids, hashes) skip dictionaries they cannot use.
func writerProperties() *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(3),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(rowGroupRows),
		parquet.WithDataPageSize(1<<20),
		parquet.WithDictionaryFor("event_id", false),
		parquet.WithDictionaryFor("event_hash", false),
		parquet.WithDictionaryFor("event_salt", false),
		parquet.WithDictionaryFor("event_data", false),
		parquet.WithSortingColumns([]parquet.SortingColumn{
			{ColumnIdx: int32(columnIndex("correlation_id"))},
			{ColumnIdx: int32(columnIndex("event_time"))},
		}),
	)
}

func arrowWriterProperties() pqarrow.ArrowWriterProperties {
	return pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
}

// textColumns are the plain text columns and where they live in a record.
var textColumns = []struct {
	name string
	ref  func(*auditevent.Record) *string
}{
	{"event_type", func(r *auditevent.Record) *string { return &r.Type }},
	{"event_category", func(r *auditevent.Record) *string { return &r.Category }},
	{"event_action", func(r *auditevent.Record) *string { return &r.Action }},
	{"event_outcome", func(r *auditevent.Record) *string { return &r.Outcome }},
	{"source", func(r *auditevent.Record) *string { return &r.Source }},
	{"subject", func(r *auditevent.Record) *string { return &r.Subject }},
	{"correlation_id", func(r *auditevent.Record) *string { return &r.CorrelationID }},
	{"actor_type", func(r *auditevent.Record) *string { return &r.ActorType }},
	{"actor_id", func(r *auditevent.Record) *string { return &r.ActorID }},
	{"resource_type", func(r *auditevent.Record) *string { return &r.ResourceType }},
	{"resource_id", func(r *auditevent.Record) *string { return &r.ResourceID }},
	{"namespace", func(r *auditevent.Record) *string { return &r.Namespace }},
	{"cluster_id", func(r *auditevent.Record) *string { return &r.ClusterID }},
	{"workflow_id", func(r *auditevent.Record) *string { return &r.WorkflowID }},
	{"trace_parent", func(r *auditevent.Record) *string { return &r.TraceParent }},
}

// Column positions in Schema.
var (
	colEventID       = columnIndex("event_id")
	colEventTime     = columnIndex("event_time")
	colEventDate     = columnIndex("event_date")
	colEventData     = columnIndex("event_data")
	colReceivedAt    = columnIndex("received_at")
	colLedgerSeq     = columnIndex("ledger_seq")
	colLedgerPos     = columnIndex("ledger_pos")
	colEventHash     = columnIndex("event_hash")
	colEventSalt     = columnIndex("event_salt")
	colCorrelationID = columnIndex("correlation_id")
	colText          = func() []int {
		out := make([]int, len(textColumns))
		for i, c := range textColumns {
			out[i] = columnIndex(c.name)
		}
		return out
	}()
)
