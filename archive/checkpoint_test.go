package archive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditlog"
	"function/shared/config"
	"function/shared/verify"
)

// A run signs the ledger head into the locked bucket; deleting the newest
// batches and their events afterwards (which the hash chain alone cannot
// show) is then reported, and so is rewriting the checkpointed batch.
func TestSignedCheckpointsPinTheChainHead(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(1), 30)
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)

	log, err := auditlog.Open(ctx, e.Pool, config.Config(e.Bucket.Settings()))
	require.NoError(t, err)
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings, "clean chain")
	assert.Equal(t, 1, rep.Checkpoints)

	var head int64
	require.NoError(t, e.Pool.QueryRow(ctx, `SELECT max(seq) FROM audit.ledger`).Scan(&head))
	assert.NotEmpty(t, e.Keys(t, format.CheckpointKey(head)), "checkpoint stored under its key")

	admin, err := pgx.Connect(ctx, e.DB.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.ledger SET batch_hash = sha256(batch_hash) WHERE seq = (SELECT max(seq) FROM audit.ledger)`)
	require.NoError(t, err)
	rep, err = log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Contains(t, rep.Findings, verify.Finding{Kind: verify.HeadRewritten, LedgerSeq: head,
		Problem: fmt.Sprintf("batch %d differs from its checkpoint signed at %s", head, signedAt(t, e, head))})

	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		DELETE FROM audit.audit_events WHERE ledger_seq = (SELECT max(seq) FROM audit.ledger);
		DELETE FROM audit.ledger WHERE seq = (SELECT max(seq) FROM audit.ledger)`)
	require.NoError(t, err)
	rep, err = log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Equal(t, []verify.Finding{{Kind: verify.LedgerTruncated, LedgerSeq: head,
		Problem: fmt.Sprintf("ledger truncated: batch %d was signed at %s, the ledger now ends at batch %d", head, signedAt(t, e, head), head-1)}},
		rep.Findings, "the chain alone cannot show a deleted head")
}

// signedAt is when the checkpoint of batch seq was signed.
func signedAt(t *testing.T, e *archivetest.Env, seq int64) string {
	var cp format.Checkpoint
	require.NoError(t, json.Unmarshal(e.Get(t, format.CheckpointKey(seq)), &cp))
	return cp.SignedAt
}

// A run stopped between a checkpoint and its signature leaves an unsigned
// checkpoint, which verification reports; the next run signs it, even with
// the ledger where it was, and the log verifies clean again.
func TestACheckpointLeftUnsignedIsSignedByTheNextRun(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(1), 10)
	_, err := e.Compactor(t, archive.Options{Hook: crashAt(archive.AfterCheckpoint)}).Run(ctx)
	require.ErrorIs(t, err, errCrash)
	head := e.DB.Scalar(t, "SELECT max(seq) FROM audit.ledger").(int64)
	require.Equal(t, []string{format.CheckpointKey(head)}, e.Keys(t, format.CheckpointPrefix), "the body, not its signature")

	log, err := auditlog.Open(ctx, e.Pool, config.Config(e.Bucket.Settings()))
	require.NoError(t, err)
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, verify.CheckpointSignature, rep.Findings[0].Kind)
	assert.Equal(t, format.CheckpointKey(head), rep.Findings[0].Object)

	_, err = e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	rep, err = log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, []string{format.CheckpointKey(head), format.SignatureKey(format.CheckpointKey(head))}, e.Keys(t, format.CheckpointPrefix))
}
