package auditstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditstore"
	"function/test/fixtures"
)

// Verification cuts the chain into spans checked in parallel; damage at and
// around span boundaries, and events outside every span's batches, must be
// found as in one pass.
func TestVerifyAcrossSpans(t *testing.T) {
	defer auditstore.SetChunkEvents(7)() // 5-event batches: spans end at 1, 2, 4, 5, 7, ...
	db, pool, w := newWriter(t)
	ctx := context.Background()
	for i := range 9 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-span-%d", i), time.Now()))
		require.NoError(t, err)
	}
	verifyChain(t, pool)
	scoped, n, err := auditstore.Verify(ctx, pool, auditstore.Scope{Date: time.Now()}, nil)
	require.NoError(t, err)
	require.Empty(t, scoped)
	require.Equal(t, 45, n)

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

	want := []auditstore.Finding{
		{LedgerSeq: 2, Problem: "batch_hash does not match its fields"},
		{LedgerSeq: 3, Problem: "prev_hash does not match the hash of batch 2"},
		{LedgerSeq: 6, Problem: "ledger gap: batch 5 is missing"},
		{LedgerSeq: 7, EventID: victim, Problem: "event content does not match its event_hash"},
		{LedgerSeq: 7, Problem: "events do not match the batch's events_digest"},
	}
	findings, _, err := auditstore.VerifyChain(ctx, pool)
	require.NoError(t, err)
	for _, f := range want {
		assert.Contains(t, findings, f)
	}
	var outside []int64
	for _, f := range findings {
		if f.Problem == "event belongs to no ledger batch" {
			outside = append(outside, f.LedgerSeq)
		}
	}
	assert.Equal(t, []int64{-3, 99}, outside, "forged events before the first and after the last batch")
	assert.Len(t, findings, len(want)+2, "%+v", findings)
}
