package verify_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/testenv"
)

// Verification cuts the chain into spans checked in parallel; damage at and
// around span boundaries, and events outside every span's batches, must be
// found as in one pass.
func TestVerifyAcrossSpans(t *testing.T) {
	defer verify.SetChunkEvents(7)() // 5-event batches: spans end at 1, 2, 4, 5, 7, ...
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	for i := range 9 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-span-%d", i), time.Now()))
		require.NoError(t, err)
	}
	verifyChain(t, pool)
	scoped, err := verify.Live(pool, nil, nil).Verify(ctx, verify.Scope{Date: time.Now()})
	require.NoError(t, err)
	require.Empty(t, scoped.Findings)
	require.Equal(t, 45, scoped.EventsChecked)

	victim := db.Scalar(t, "SELECT event_id::text FROM audit.audit_events WHERE ledger_seq = 7 AND ledger_pos = 2").(string)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.ledger SET batch_hash = sha256('forged') WHERE seq = 2;
		DELETE FROM audit.audit_events WHERE ledger_seq = 5;
		DELETE FROM audit.ledger WHERE seq = 5;
		UPDATE audit.audit_events SET event_outcome = 'failure' WHERE event_id = '`+victim+`';
		INSERT INTO audit.audit_events SELECT gen_random_uuid(), event_time, event_date, event_type, event_category,
			event_action, event_outcome, source, subject, correlation_id, actor_type, actor_id, resource_type, resource_id,
			namespace, cluster_id, workflow_id, trace_parent, event_data, received_at, seq, 0, event_hash
		FROM audit.audit_events, (VALUES (-3), (99)) AS forged(seq) WHERE ledger_seq = 1 AND ledger_pos = 0`)
	require.NoError(t, err)

	want := []verify.Finding{
		{Kind: verify.BatchAltered, LedgerSeq: 2, Problem: "batch_hash does not match its fields"},
		{Kind: verify.BatchLink, LedgerSeq: 3, Problem: "prev_hash does not match the hash of batch 2"},
		{Kind: verify.LedgerGap, LedgerSeq: 6, Problem: "ledger gap: batch 5 is missing"},
		{Kind: verify.EventAltered, LedgerSeq: 7, EventID: victim, Problem: "event content does not match its event_hash"},
		{Kind: verify.BatchDigest, LedgerSeq: 7, Problem: "events do not match the batch's events_digest"},
	}
	findings := verifyAll(t, pool, nil)
	for _, f := range want {
		assert.Contains(t, findings, f)
	}
	var outside []int64
	for _, f := range findings {
		if f.Kind == verify.EventOutside {
			outside = append(outside, f.LedgerSeq)
		}
	}
	assert.Equal(t, []int64{-3, 99}, outside, "forged events before the first and after the last batch")
	assert.Len(t, findings, len(want)+2, "%+v", findings)
}

// fakePart is an archived part served from memory, counting its reads.
type fakePart struct {
	records []auditevent.Record
	reads   int
}

func (p *fakePart) Object() (string, string, []byte) { return "", "", nil }

func (p *fakePart) Seqs() (first, last int64) {
	first, last = math.MaxInt64, math.MinInt64
	for _, r := range p.records {
		first, last = min(first, r.LedgerSeq), max(last, r.LedgerSeq)
	}
	return first, last
}

func (p *fakePart) Each(_ context.Context, fn func(*auditevent.Record)) error {
	p.reads++
	for i := range p.records {
		r := p.records[i]
		fn(&r)
	}
	return nil
}

type fakeArchive []*fakePart

func (a fakeArchive) Seqs(context.Context, verify.Scope) ([]int64, error) { return nil, nil }

func (a fakeArchive) Parts(context.Context, int64) ([]verify.ColdPart, error) {
	out := make([]verify.ColdPart, len(a))
	for i, p := range a {
		out[i] = p
	}
	return out, nil
}

// Days whose rows left the table are verified from their archived parts,
// span by span: each part is read once, however many spans its batches
// cross, and an altered archived event is named.
func TestVerifyReadsEachArchivedPartOnceAcrossSpans(t *testing.T) {
	defer verify.SetChunkEvents(7)()
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	days := []time.Time{time.Now().AddDate(0, 0, -3), time.Now().AddDate(0, 0, -2), time.Now()}
	for i := range 12 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-archived-%d", i), days[i/4]))
		require.NoError(t, err)
	}
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	var archive fakeArchive
	for _, d := range days[:2] {
		recs, err := auditstore.ReadRecords(ctx, pool, "WHERE event_date = $1", d.UTC().Format(time.DateOnly))
		require.NoError(t, err)
		require.Len(t, recs, 20)
		archive = append(archive, &fakePart{records: recs})
		part := "audit.audit_events_" + d.UTC().Format("20060102")
		_, err = admin.Exec(ctx, "ALTER TABLE audit.audit_events DETACH PARTITION "+part+"; DROP TABLE "+part)
		require.NoError(t, err)
	}

	rep, err := verify.Live(pool, archive, nil).Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, 60, rep.EventsChecked)
	for _, p := range archive {
		assert.Equal(t, 1, p.reads, "each part is read once")
	}

	victim := &archive[1].records[3]
	victim.ActorID = "mallory"
	findings := verifyAll(t, pool, archive)
	assert.Contains(t, findings, verify.Finding{Kind: verify.EventAltered, LedgerSeq: victim.LedgerSeq, EventID: victim.ID.String(),
		Problem: "event content does not match its event_hash"})
	assert.Len(t, findings, 2, "the event and its batch's digest: %+v", findings)

	assert.NotEmpty(t, verifyAll(t, pool, nil), "without the archive the dropped days are missing")
}

func TestVerifyChainFindsTheCulprits(t *testing.T) {
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	for i := range 3 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-v%d", i), time.Now()))
		require.NoError(t, err)
	}
	verifyChain(t, pool)
	victim := db.Scalar(t, "SELECT event_id::text FROM audit.audit_events WHERE ledger_seq = 2 AND ledger_pos = 1").(string)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	// A superuser can switch the guard off; the chain still tells.
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.audit_events SET actor_id = 'mallory' WHERE event_id = '`+victim+`';
		DELETE FROM audit.audit_events WHERE ledger_seq = 3 AND ledger_pos = 4`)
	require.NoError(t, err)
	findings := verifyAll(t, pool, nil)
	assert.Contains(t, findings, verify.Finding{Kind: verify.EventAltered, LedgerSeq: 2, EventID: victim, Problem: "event content does not match its event_hash"})
	assert.Contains(t, findings, verify.Finding{Kind: verify.BatchCount, LedgerSeq: 3, Problem: "batch holds 4 events, ledger says 5"})
}

// verifyAll is the whole log's findings.
func verifyAll(t *testing.T, pool *pgxpool.Pool, cold verify.Cold) []verify.Finding {
	t.Helper()
	rep, err := verify.Live(pool, cold, nil).Verify(context.Background(), verify.Scope{})
	require.NoError(t, err)
	return rep.Findings
}

// verifyChain fails the test on any integrity finding.
func verifyChain(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	require.Empty(t, verifyAll(t, pool, nil))
}
