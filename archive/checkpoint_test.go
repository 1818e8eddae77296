package archive_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/config"
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

	settings := e.Bucket.Settings()
	r, err := archive.NewReader(ctx, e.Pool, config.Config(settings))
	require.NoError(t, err)
	findings, err := r.CheckHead(ctx)
	require.NoError(t, err)
	assert.Empty(t, findings, "clean chain")

	var head int64
	require.NoError(t, e.Pool.QueryRow(ctx, `SELECT max(seq) FROM audit.ledger`).Scan(&head))
	assert.NotEmpty(t, e.Keys(t, archive.CheckpointKey(head)), "checkpoint stored under its key")

	admin, err := pgx.Connect(ctx, e.DB.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.ledger SET batch_hash = sha256(batch_hash) WHERE seq = (SELECT max(seq) FROM audit.ledger)`)
	require.NoError(t, err)
	findings, err = r.CheckHead(ctx)
	require.NoError(t, err)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Problem, "differs from its checkpoint")

	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		DELETE FROM audit.audit_events WHERE ledger_seq = (SELECT max(seq) FROM audit.ledger);
		DELETE FROM audit.ledger WHERE seq = (SELECT max(seq) FROM audit.ledger)`)
	require.NoError(t, err)
	findings, err = r.CheckHead(ctx)
	require.NoError(t, err)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Problem, "ledger truncated")
	assert.Equal(t, head, findings[0].LedgerSeq)
}
