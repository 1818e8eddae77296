package archive_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/auditstore"
)

// What `make verify` does: the whole chain, its archived days read back
// from the bucket, checks clean, and a row altered in the hot table is named.
func TestWholeChainVerifiesAcrossHotAndArchivedDays(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	total := 0
	for _, d := range []int{10, 9, 2} {
		total += len(e.Seed(t, archivetest.DaysAgo(d), 300))
	}
	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Days, 2, "the two cold days are archived and dropped")
	reader, err := archive.NewReader(ctx, e.Pool, e.Settings())
	require.NoError(t, err)

	findings, checked, err := auditstore.Verify(ctx, e.Pool, auditstore.Scope{}, reader)
	require.NoError(t, err)
	assert.Empty(t, findings)
	assert.Equal(t, total, checked, "hot and archived events are all checked")

	victim := e.HotRecords(t, archivetest.DaysAgo(2))[7]
	admin, err := pgx.Connect(ctx, e.DB.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "SET session_replication_role = replica; UPDATE audit.audit_events SET actor_id = 'mallory' WHERE event_id = '"+victim.ID.String()+"'")
	require.NoError(t, err)
	findings, _, err = auditstore.Verify(ctx, e.Pool, auditstore.Scope{}, reader)
	require.NoError(t, err)
	require.Len(t, findings, 2, "%+v", findings)
	assert.Equal(t, victim.ID.String(), findings[0].EventID)
	assert.Contains(t, findings[0].Problem, "does not match its event_hash")
	assert.Contains(t, findings[1].Problem, "events_digest")
}
