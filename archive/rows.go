package archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/canonjson"
)

// partRange is the set of rows an archive part holds: the events of Day with
// ledger_seq in (After, Through]. Once Through is at or below the ledger head
// the set never changes, so a part can be rewritten after a crash.
type partRange struct {
	Day     time.Time
	After   int64
	Through int64
}

const (
	rangeFilter = ` FROM audit.audit_events WHERE event_date = $1 AND ledger_seq > $2 AND ledger_seq <= $3 `
	// archiveOrder is the order of rows in a part: the spec's sort key, then
	// the ledger position so the order is total and a rewrite is identical.
	archiveOrder = ` ORDER BY correlation_id, event_time, ledger_seq, ledger_pos`
	ledgerOrder  = ` ORDER BY ledger_seq, ledger_pos`
)

func (r partRange) args() []any { return []any{r.Day, r.After, r.Through} }

// scanRecords streams the rows of r in archive order to fn, with event_data
// as PostgreSQL renders jsonb: canonicalise it before use. pgx reads rows off
// the connection one at a time, so memory stays at one row however large
// the day. fn must not keep the pointer (a copy of the record is fine).
func scanRecords(ctx context.Context, q auditstore.Querier, r partRange, fn func(*auditevent.Record) error) error {
	rows, err := q.Query(ctx, "SELECT "+strings.Join(auditstore.Columns, ", ")+rangeFilter+archiveOrder, r.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		rec  auditevent.Record
		data []byte // not json.RawMessage, which pgx would run through encoding/json
	)
	for rows.Next() {
		if err := rows.Scan(&rec.ID, &rec.Time, &rec.EventDate, &rec.Type, &rec.Category, &rec.Action, &rec.Outcome,
			&rec.Source, &rec.Subject, &rec.CorrelationID, &rec.ActorType, &rec.ActorID, &rec.ResourceType, &rec.ResourceID,
			&rec.Namespace, &rec.ClusterID, &rec.WorkflowID, &rec.TraceParent, &data, &rec.ReceivedAt,
			&rec.LedgerSeq, &rec.LedgerPos, &rec.Hash); err != nil {
			return err
		}
		rec.Data = data
		rec.Time, rec.ReceivedAt = rec.Time.UTC(), rec.ReceivedAt.UTC()
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// canonicalize replaces the jsonb rendering of r's data by the canonical
// form that was hashed, as auditstore.ReadRecords does.
func canonicalize(r *auditevent.Record) error {
	data, err := canonjson.Transform(r.Data)
	if err != nil {
		return fmt.Errorf("event %s: event_data: %w", r.ID, err)
	}
	r.Data = data
	return nil
}

// ledgerEntry is what ties an archived row to the ledger.
type ledgerEntry struct {
	Seq  int64
	Pos  int32
	Hash []byte
}

// scanLedger streams (ledger_seq, ledger_pos, event_hash) of r's rows in the
// given order (archiveOrder or ledgerOrder).
func scanLedger(ctx context.Context, q auditstore.Querier, r partRange, order string, fn func(ledgerEntry) error) error {
	rows, err := q.Query(ctx, "SELECT ledger_seq, ledger_pos, event_hash"+rangeFilter+order, r.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var e ledgerEntry
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &e.Pos, &e.Hash); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
