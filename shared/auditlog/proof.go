package auditlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/formats/proof"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/tlog"
)

// Why a proof cannot be given.
var (
	ErrNoEvent     = errors.New("no such event")
	ErrAmbiguous   = errors.New("the event id names events of several sources")
	ErrNotIncluded = errors.New("the event is not yet in a signed checkpoint")
)

// Proof is the C2SP tlog-proof that the event (id, and source when several
// senders used the id) is in the tree of the newest checkpoint: its leaf
// index, the inclusion proof and the signed checkpoint. The leaf is
// tlog.LeafHash of the event's event_hash.
func (l *Log) Proof(ctx context.Context, id uuid.UUID, source string) ([]byte, auditstore.Key, error) {
	rec, err := l.event(ctx, id, source)
	if err != nil {
		return nil, auditstore.Key{}, err
	}
	key := auditstore.KeyOf(&rec)
	firsts, err := tlog.FirstLeaves(ctx, l.pool, []int64{rec.LedgerSeq})
	if err != nil {
		return nil, key, err
	}
	first, ok := firsts[rec.LedgerSeq]
	if !ok {
		return nil, key, ErrNotIncluded
	}
	cp, err := tlog.Latest(ctx, l.pool)
	if errors.Is(err, tlog.ErrNoCheckpoint) {
		return nil, key, ErrNotIncluded
	}
	if err != nil {
		return nil, key, err
	}
	index := first + uint64(rec.LedgerPos)
	if index >= cp.Size {
		return nil, key, ErrNotIncluded
	}
	hashes, err := tlog.Inclusion(ctx, l.pool, index, cp.Size)
	if err != nil {
		return nil, key, fmt.Errorf("inclusion proof of leaf %d in %d: %w", index, cp.Size, err)
	}
	p := proof.TLogProof{Index: index, Checkpoint: cp.Note}
	for _, h := range hashes {
		p.Hashes = append(p.Hashes, [32]byte(h))
	}
	return p.Marshal(), key, nil
}

// event finds one event in either tier by id (and source), through the
// key table every accepted event has a row in.
func (l *Log) event(ctx context.Context, id uuid.UUID, source string) (auditevent.Record, error) {
	rows, err := l.pool.Query(ctx, `SELECT source, event_date FROM audit.event_keys WHERE event_id = $1 AND ($2 = '' OR source = $2)`, id, source)
	if err != nil {
		return auditevent.Record{}, err
	}
	type key struct {
		Source string
		Day    time.Time
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[key])
	switch {
	case err != nil:
		return auditevent.Record{}, err
	case len(keys) == 0:
		return auditevent.Record{}, ErrNoEvent
	case len(keys) > 1:
		return auditevent.Record{}, ErrAmbiguous
	}
	k := keys[0]
	recs, err := l.Search(ctx, auditstore.Filter{EventID: id, Source: k.Source, Since: k.Day, Until: k.Day.AddDate(0, 0, 1)},
		auditstore.Page{Limit: 1})
	if err != nil {
		return auditevent.Record{}, err
	}
	if len(recs) == 0 {
		// Its key is there, the event is not: the verifier reports that.
		return auditevent.Record{}, ErrNoEvent
	}
	return recs[0], nil
}
