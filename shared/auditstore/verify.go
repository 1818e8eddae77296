package auditstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/auditevent"
	"function/shared/integrity"
)

// Finding is one integrity failure: the batch and, where known, the event.
type Finding struct {
	LedgerSeq int64  `json:"ledgerSeq"`
	EventID   string `json:"eventId,omitempty"`
	Problem   string `json:"problem"`
}

// Scope limits verification to the ledger batches holding a day's events
// (or committed that day) or a correlation id's events; the zero Scope is
// the whole hot store.
type Scope struct {
	Date          time.Time
	CorrelationID string
}

// Archived gives verification the events whose hot rows were archived and
// dropped: the ledger still lists them.
type Archived interface {
	// Seqs are the ledger batches holding archived events in scope.
	Seqs(ctx context.Context, s Scope) ([]int64, error)
	// Records are the archived events of those batches; nil: of all.
	Records(ctx context.Context, seqs []int64) ([]auditevent.Record, error)
}

// VerifyChain checks the whole hot store.
func VerifyChain(ctx context.Context, pool *pgxpool.Pool) ([]Finding, int, error) {
	return Verify(ctx, pool, Scope{}, nil)
}

// Verify recomputes, for the batches in scope, every event hash, batch
// digest and chain link (to the predecessor of each batch), and reports each
// mismatch. Events of a batch that were archived come from archived (nil:
// none were). It returns the number of events checked.
func Verify(ctx context.Context, pool *pgxpool.Pool, s Scope, archived Archived) ([]Finding, int, error) {
	seqs, err := scopeBatches(ctx, pool, s)
	if err != nil {
		return nil, 0, err
	}
	if seqs != nil {
		// Whatever the scope, batches that lost every event (a dropped
		// partition, a deleted batch) are checked: a scope found by the
		// events it still has cannot find them.
		orphans, err := orphanBatches(ctx, pool)
		if err != nil {
			return nil, 0, err
		}
		seqs = append(seqs, orphans...)
		if archived != nil {
			more, err := archived.Seqs(ctx, s)
			if err != nil {
				return nil, 0, err
			}
			seqs = append(seqs, more...)
		}
		slices.Sort(seqs)
		seqs = slices.Compact(seqs)
	}
	ledgerSQL := `SELECT seq, prev_hash, event_count, events_digest, committed_at, batch_hash FROM audit.ledger`
	recordsTail := "ORDER BY ledger_seq, ledger_pos"
	var args []any
	if seqs != nil {
		withPrev := slices.Clone(seqs)
		for _, q := range seqs {
			withPrev = append(withPrev, q-1)
		}
		ledgerSQL += ` WHERE seq = ANY($1)`
		recordsTail = "WHERE ledger_seq = ANY($1) " + recordsTail
		args = []any{withPrev}
	}
	rows, err := pool.Query(ctx, ledgerSQL+` ORDER BY seq`, args...)
	if err != nil {
		return nil, 0, err
	}
	batches, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (integrity.Batch, error) {
		var b integrity.Batch
		err := r.Scan(&b.Seq, &b.PrevHash, &b.EventCount, &b.EventsDigest, &b.CommittedAt, &b.Hash)
		return b, err
	})
	if err != nil {
		return nil, 0, err
	}
	if seqs != nil {
		args = []any{seqs}
	}
	recs, err := ReadRecords(ctx, pool, recordsTail, args...)
	if err != nil {
		return nil, 0, err
	}
	if archived != nil {
		cold, err := archived.Records(ctx, seqs)
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, cold...)
		slices.SortFunc(recs, func(a, b auditevent.Record) int {
			return cmp.Or(cmp.Compare(a.LedgerSeq, b.LedgerSeq), cmp.Compare(a.LedgerPos, b.LedgerPos))
		})
	}

	var findings []Finding
	report := func(seq int64, id, format string, args ...any) {
		findings = append(findings, Finding{LedgerSeq: seq, EventID: id, Problem: fmt.Sprintf(format, args...)})
	}
	scoped := make(map[int64]bool, len(seqs))
	for _, q := range seqs {
		scoped[q] = true
	}
	inScope := func(seq int64) bool { return seqs == nil || scoped[seq] }
	prev := integrity.Batch{Hash: integrity.Genesis}
	i := 0
	for _, b := range batches {
		// Events whose batch is missing from the ledger were inserted around it.
		for ; i < len(recs) && recs[i].LedgerSeq < b.Seq; i++ {
			report(recs[i].LedgerSeq, recs[i].ID.String(), "event belongs to no ledger batch")
		}
		if !inScope(b.Seq) {
			prev = b // only loaded as a predecessor
			continue
		}
		switch {
		case b.Seq == prev.Seq+1:
			if !bytes.Equal(b.PrevHash, prev.Hash) {
				report(b.Seq, "", "prev_hash does not match the hash of batch %d", prev.Seq)
			}
		case seqs == nil || b.Seq > 1:
			report(b.Seq, "", "ledger gap: batch %d is missing", b.Seq-1)
		}
		sealed := b
		integrity.Seal(&sealed)
		if !bytes.Equal(sealed.Hash, b.Hash) {
			report(b.Seq, "", "batch_hash does not match its fields")
		}
		var hashes [][]byte
		for ; i < len(recs) && recs[i].LedgerSeq == b.Seq; i++ {
			r := &recs[i]
			if int(r.LedgerPos) != len(hashes) {
				report(b.Seq, r.ID.String(), "at ledger_pos %d, expected %d", r.LedgerPos, len(hashes))
			}
			h := integrity.EventHash(r)
			if !bytes.Equal(h, r.Hash) {
				report(b.Seq, r.ID.String(), "event content does not match its event_hash")
			}
			hashes = append(hashes, h)
		}
		if len(hashes) != b.EventCount {
			report(b.Seq, "", "batch holds %d events, ledger says %d", len(hashes), b.EventCount)
		} else if !bytes.Equal(integrity.EventsDigest(hashes), b.EventsDigest) {
			report(b.Seq, "", "events do not match the batch's events_digest")
		}
		prev = b
	}
	for ; i < len(recs); i++ {
		report(recs[i].LedgerSeq, recs[i].ID.String(), "event belongs to no ledger batch")
	}
	return findings, len(recs), nil
}

// orphanBatches are the ledger batches without a single hot event that no
// dropped (archived) part covers.
func orphanBatches(ctx context.Context, pool *pgxpool.Pool) ([]int64, error) {
	rows, err := pool.Query(ctx, `SELECT l.seq FROM audit.ledger l
		WHERE NOT EXISTS (SELECT 1 FROM audit.audit_events e WHERE e.ledger_seq = l.seq)
		  AND NOT EXISTS (SELECT 1 FROM audit.archive_days d
		                  WHERE d.state = 'dropped' AND l.seq > d.seq_after AND l.seq <= d.seq_through)`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// scopeBatches lists the ledger batches a scope covers; nil means all.
func scopeBatches(ctx context.Context, pool *pgxpool.Pool, s Scope) ([]int64, error) {
	var sql string
	var arg any
	switch {
	case !s.Date.IsZero():
		sql = `SELECT ledger_seq FROM audit.audit_events WHERE event_date = $1
			UNION SELECT seq FROM audit.ledger WHERE committed_at >= $1 AND committed_at < $1::date + 1`
		arg = utcDay(s.Date)
	case s.CorrelationID != "":
		sql = `SELECT DISTINCT ledger_seq FROM audit.audit_events WHERE correlation_id = $1`
		arg = s.CorrelationID
	default:
		return nil, nil
	}
	rows, err := pool.Query(ctx, sql+" ORDER BY 1", arg)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if seqs == nil {
		seqs = []int64{}
	}
	return seqs, err
}
