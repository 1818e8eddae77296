package archive

import (
	"context"
	"time"

	"function/shared/auditevent"
	"function/shared/auditstore"
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
	rangeWhere  = `WHERE event_date = $1 AND ledger_seq > $2 AND ledger_seq <= $3 `
	rangeFilter = ` FROM audit.audit_events ` + rangeWhere
	// archiveOrder is the order of rows in a part: the spec's sort key, then
	// the ledger position so the order is total and a rewrite is identical.
	archiveOrder = ` ORDER BY correlation_id, event_time, ledger_seq, ledger_pos`
	ledgerOrder  = ` ORDER BY ledger_seq, ledger_pos`
)

func (r partRange) args() []any { return []any{r.Day, r.After, r.Through} }

// scanRecords streams the rows of r in archive order to fn, with event_data
// as PostgreSQL renders jsonb (auditstore.Rows).
func scanRecords(ctx context.Context, q auditstore.Querier, r partRange, fn func(*auditevent.Record) error) error {
	return auditstore.Rows(ctx, q, rangeWhere+archiveOrder, r.args(), fn)
}

// scanLedger streams (ledger_seq, ledger_pos, event_hash) of r's rows in the
// given order (archiveOrder or ledgerOrder): what ties them to the ledger.
func scanLedger(ctx context.Context, q auditstore.Querier, r partRange, order string, fn func(seq int64, pos int32, hash []byte) error) error {
	rows, err := q.Query(ctx, "SELECT ledger_seq, ledger_pos, event_hash"+rangeFilter+order, r.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		seq  int64
		pos  int32
		hash []byte
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &pos, &hash); err != nil {
			return err
		}
		if err := fn(seq, pos, hash); err != nil {
			return err
		}
	}
	return rows.Err()
}

// chunkRows is how many rows travel through the encoding pipeline together.
const chunkRows = 1024
