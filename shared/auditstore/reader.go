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

// ReadRecords selects stored records; tail is the SQL after
// "FROM audit.audit_events" (WHERE, ORDER BY, LIMIT). event_data is returned
// in canonical form, as it was hashed.
func ReadRecords(ctx context.Context, q Querier, tail string, args ...any) ([]auditevent.Record, error) {
	var out []auditevent.Record
	err := EachRecord(ctx, q, tail, args, func(r *auditevent.Record) { out = append(out, *r) })
	return out, err
}

// EachRecord streams the selected records to fn, one at a time (fn may keep
// them), so callers that visit every row need not hold them all.
func EachRecord(ctx context.Context, q Querier, tail string, args []any, fn func(*auditevent.Record)) error {
	cols := strings.Join(Columns, ", ")
	rows, err := q.Query(ctx, "SELECT "+cols+" FROM audit.audit_events "+tail, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r auditevent.Record
		var data []byte
		if err := rows.Scan(&r.ID, &r.Time, &r.EventDate, &r.Type, &r.Category, &r.Action, &r.Outcome,
			&r.Source, &r.Subject, &r.CorrelationID, &r.ActorType, &r.ActorID, &r.ResourceType, &r.ResourceID,
			&r.Namespace, &r.ClusterID, &r.WorkflowID, &r.TraceParent, &data, &r.ReceivedAt,
			&r.LedgerSeq, &r.LedgerPos, &r.Hash); err != nil {
			return err
		}
		// jsonb re-renders the stored text; canonicalise it back.
		if r.Data, err = canonjson.Transform(data); err != nil {
			return fmt.Errorf("event %s: event_data: %w", r.ID, err)
		}
		r.Time, r.ReceivedAt = r.Time.UTC(), r.ReceivedAt.UTC()
		fn(&r)
	}
	return rows.Err()
}
