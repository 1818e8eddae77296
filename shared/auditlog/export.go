package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/jackc/pgx/v5"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/bundle"
	"function/shared/integrity"
	"function/shared/tlog"
	"function/shared/trail"
)

// exportPage is how many events one step of an export reads and proves.
const exportPage = 500

// Export writes the bundle of the events f selects (docs/integrity.md §8):
// the newest checkpoint, then each event with its inclusion proof in it,
// page by page in (event_time, event_id) order, so memory holds one page.
// Events newer than the checkpoint are counted as pending, not written.
//
// A bundle of one correlation id's events (no other filter) carries the
// trail index's entry for it, read with the checkpoint, so that it shows
// the trail complete. red names the values shown only by their salted
// commitments (docs/integrity.md §10).
func (l *Log) Export(ctx context.Context, f auditstore.Filter, red bundle.Redaction, query map[string][]string, out io.Writer) error {
	var cp tlog.Checkpoint
	var tr *bundle.Trail
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if cp, err = tlog.Latest(ctx, tx); err != nil || !wholeTrail(f) {
			return err
		}
		root, err := tlog.TrailsRoot(cp.Note)
		if errors.Is(err, trail.ErrNoLine) {
			return nil // signed before the index existed
		}
		if err != nil {
			return err
		}
		e, p, err := tlog.TrailProof(ctx, tx, root, f.CorrelationID)
		if err != nil {
			return err
		}
		tr = bundle.NewTrail(f.CorrelationID, e, p)
		return nil
	})
	if err != nil {
		return err
	}
	h := bundle.Header{Origin: tlog.Origin(cp.Note), Checkpoint: string(cp.Note), Filter: query, Trail: tr}
	for _, s := range tlog.SignatureLines(cp.Note) {
		h.Signatures = append(h.Signatures, bundle.Signature{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash)})
	}
	w, err := bundle.NewWriter(out, h)
	if err != nil {
		return err
	}
	pending := 0
	page := auditstore.Page{Limit: exportPage}
	for {
		recs, err := l.Search(ctx, f, page)
		if err != nil {
			return err
		}
		n, err := l.exportPage(ctx, w, red, recs, cp.Size)
		if err != nil {
			return err
		}
		pending += len(recs) - n
		if len(recs) < page.Limit {
			return w.Close(pending)
		}
		last := auditstore.KeyOf(&recs[len(recs)-1])
		page.After = &last
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// exportPage writes the page's events that the checkpoint of size leaves
// covers, with their proofs, and returns how many.
func (l *Log) exportPage(ctx context.Context, w *bundle.Writer, red bundle.Redaction, recs []auditevent.Record, size uint64) (int, error) {
	seqs := make([]int64, len(recs))
	for i := range recs {
		seqs[i] = recs[i].LedgerSeq
	}
	first, err := tlog.FirstLeaves(ctx, l.pool, seqs)
	if err != nil {
		return 0, err
	}
	var in []int
	var idxs []uint64
	for i := range recs {
		if f, ok := first[recs[i].LedgerSeq]; ok && f+uint64(recs[i].LedgerPos) < size {
			in, idxs = append(in, i), append(idxs, f+uint64(recs[i].LedgerPos))
		}
	}
	proofs, err := tlog.InclusionProofs(ctx, l.pool, idxs, size)
	if err != nil {
		return 0, err
	}
	for j, i := range in {
		r := &recs[i]
		e, err := red.NewEntry(idxs[j], integrity.EventCanonical(r), r.Salt, r.Hash, proofs[j])
		if err != nil {
			return 0, fmt.Errorf("event %s: %w", r.ID, err)
		}
		if err := w.Add(e); err != nil {
			return 0, err
		}
	}
	return len(in), nil
}

// wholeTrail tells whether f selects one correlation id's events, all of
// them.
func wholeTrail(f auditstore.Filter) bool {
	if len(f.Types) == 0 {
		f.Types = nil
	}
	return f.CorrelationID != "" && reflect.DeepEqual(f, auditstore.Filter{CorrelationID: f.CorrelationID})
}
