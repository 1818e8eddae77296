package auditstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/integrity"
)

// Finding is one integrity failure: the batch and, where known, the event.
type Finding struct {
	LedgerSeq int64  `json:"ledgerSeq"`
	EventID   string `json:"eventId,omitempty"`
	Problem   string `json:"problem"`
}

// VerifyChain recomputes, over the hot table, every event hash, every batch
// digest and every chain link, and reports each mismatch. It returns the
// number of events checked.
func VerifyChain(ctx context.Context, pool *pgxpool.Pool) ([]Finding, int, error) {
	rows, err := pool.Query(ctx, `SELECT seq, prev_hash, event_count, events_digest, committed_at, batch_hash
		FROM audit.ledger ORDER BY seq`)
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
	recs, err := ReadRecords(ctx, pool, "ORDER BY ledger_seq, ledger_pos")
	if err != nil {
		return nil, 0, err
	}
	var findings []Finding
	report := func(seq int64, id, format string, args ...any) {
		findings = append(findings, Finding{LedgerSeq: seq, EventID: id, Problem: fmt.Sprintf(format, args...)})
	}
	prev := integrity.Batch{Hash: integrity.Genesis}
	i := 0
	for _, b := range batches {
		// Events whose batch is missing from the ledger were inserted around it.
		for ; i < len(recs) && recs[i].LedgerSeq < b.Seq; i++ {
			report(recs[i].LedgerSeq, recs[i].ID.String(), "event belongs to no ledger batch")
		}
		if b.Seq != prev.Seq+1 {
			report(b.Seq, "", "ledger gap: batches %d..%d missing", prev.Seq+1, b.Seq-1)
		}
		if !bytes.Equal(b.PrevHash, prev.Hash) {
			report(b.Seq, "", "prev_hash does not match the hash of batch %d", prev.Seq)
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
