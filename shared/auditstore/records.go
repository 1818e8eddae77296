package auditstore

import (
	"context"
	"fmt"
	"strings"

	"function/shared/auditevent"
	"function/shared/canonjson"
	"function/shared/pgdb"
)

// Querier is what reads need: a pool, a connection or a transaction.
type Querier = pgdb.Querier

// Columns are the audit_events columns in the order Values gives them.
var Columns = []string{
	"event_id", "event_time", "event_date", "event_type", "event_category", "event_action", "event_outcome",
	"source", "subject", "correlation_id", "actor_type", "actor_id", "resource_type", "resource_id",
	"namespace", "cluster_id", "workflow_id", "trace_parent", "event_data", "received_at",
	"ledger_seq", "ledger_pos", "event_hash", "event_salt",
}

// Values is a record as a row of Columns. The id goes as [16]byte, which pgx
// encodes directly; a uuid.UUID would go through its driver.Valuer (a string
// formatted, then parsed again), which was a tenth of the collector's CPU.
func Values(r *auditevent.Record) []any {
	return []any{
		[16]byte(r.ID), r.Time, r.EventDate, r.Type, r.Category, r.Action, r.Outcome,
		r.Source, r.Subject, r.CorrelationID, r.ActorType, r.ActorID, r.ResourceType, r.ResourceID,
		r.Namespace, r.ClusterID, r.WorkflowID, r.TraceParent, string(r.Data), r.ReceivedAt,
		r.LedgerSeq, r.LedgerPos, r.Hash, r.Salt,
	}
}

// scan is where a row of Columns goes: into r, with event_data as PostgreSQL
// renders jsonb into data.
func scan(r *auditevent.Record, data *[]byte) []any {
	return []any{&r.ID, &r.Time, &r.EventDate, &r.Type, &r.Category, &r.Action, &r.Outcome,
		&r.Source, &r.Subject, &r.CorrelationID, &r.ActorType, &r.ActorID, &r.ResourceType, &r.ResourceID,
		&r.Namespace, &r.ClusterID, &r.WorkflowID, &r.TraceParent, data, &r.ReceivedAt,
		&r.LedgerSeq, &r.LedgerPos, &r.Hash, &r.Salt}
}

// Rows streams the selected rows to fn; tail is the SQL after
// "FROM audit.audit_events" (WHERE, ORDER BY, LIMIT). event_data is as
// PostgreSQL renders jsonb: Canonicalize it before use. pgx reads rows off
// the connection one at a time, so memory stays at one row however many
// there are. The record is reused: fn may keep a copy, not the pointer.
func Rows(ctx context.Context, q Querier, tail string, args []any, fn func(*auditevent.Record) error) error {
	rows, err := q.Query(ctx, "SELECT "+strings.Join(Columns, ", ")+" FROM audit.audit_events "+tail, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		r    auditevent.Record
		data []byte // not json.RawMessage, which pgx would run through encoding/json
	)
	dst := scan(&r, &data)
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.Data = data
		r.Time, r.ReceivedAt = r.Time.UTC(), r.ReceivedAt.UTC()
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Canonicalize replaces the jsonb rendering of r's data by the canonical
// form that was hashed.
func Canonicalize(r *auditevent.Record) error {
	data, err := canonjson.Transform(r.Data)
	if err != nil {
		return fmt.Errorf("event %s: event_data: %w", r.ID, err)
	}
	r.Data = data
	return nil
}

// ReadRecords selects stored records (tail as for Rows), event_data in
// canonical form, as it was hashed.
func ReadRecords(ctx context.Context, q Querier, tail string, args ...any) ([]auditevent.Record, error) {
	var out []auditevent.Record
	err := EachRecord(ctx, q, tail, args, func(r *auditevent.Record) { out = append(out, *r) })
	return out, err
}

// EachRecord streams the selected records to fn, one at a time (fn may keep
// them), event_data in canonical form.
func EachRecord(ctx context.Context, q Querier, tail string, args []any, fn func(*auditevent.Record)) error {
	return Rows(ctx, q, tail, args, func(r *auditevent.Record) error {
		if err := Canonicalize(r); err != nil {
			return err
		}
		rec := *r // pgx scans every field into fresh memory
		fn(&rec)
		return nil
	})
}
