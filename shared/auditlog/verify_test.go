package auditlog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditlog"
	"function/shared/verify"
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
	run, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	require.Len(t, run.Days, 2, "the two cold days are archived and dropped")
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(t, err)

	clean, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, clean.Findings)
	assert.Equal(t, total, clean.EventsChecked, "hot and archived events are all checked")
	assert.Equal(t, 2, clean.Manifests, "the manifests and their chain are checked")
	assert.Equal(t, 2, clean.Parts, "both archived parts are read")

	// One Log serves concurrent requests (run with -race to check the
	// verifier's caches are guarded).
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			rep, err := log.Verify(ctx, verify.Scope{})
			if err == nil && (!rep.OK() || rep.EventsChecked != total) {
				err = fmt.Errorf("concurrent verify: %d events, %+v", rep.EventsChecked, rep.Findings)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())

	victim := e.HotRecords(t, archivetest.DaysAgo(2))[7]
	admin, err := pgx.Connect(ctx, e.DB.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "SET session_replication_role = replica; UPDATE audit.audit_events SET actor_id = 'mallory' WHERE event_id = '"+victim.ID.String()+"'")
	require.NoError(t, err)
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	require.Len(t, rep.Findings, 2, "%+v", rep.Findings)
	assert.Equal(t, verify.EventAltered, rep.Findings[0].Kind)
	assert.Equal(t, victim.ID.String(), rep.Findings[0].EventID)
	assert.Equal(t, verify.BatchDigest, rep.Findings[1].Kind)
}

// Hiding the newest manifest behind a delete marker (Object Lock keeps the
// version, not its place in listings) leaves a chain that checks out by
// itself; the state table says how far it reached, and the live verify
// reports the missing end.
func TestAHiddenNewestManifestIsReported(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(10), 50)
	e.Seed(t, archivetest.DaysAgo(9), 50)
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(t, err)
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	require.Empty(t, rep.Findings)

	newest := format.ManifestKey(archivetest.DaysAgo(9), 1)
	require.NoError(t, e.Bucket.Client(t).RemoveObject(ctx, e.Bucket.Name, newest, minio.RemoveObjectOptions{}))
	rep, err = log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	kinds := map[verify.Kind]string{}
	for _, f := range rep.Findings {
		kinds[f.Kind] = f.Object
	}
	assert.Contains(t, kinds, verify.ManifestChain, "%+v", rep.Findings)
	assert.Contains(t, kinds, verify.PartUnlisted, "the day's part is read, and no listed manifest has it")
	assert.Equal(t, format.PartKey(archivetest.DaysAgo(9), 1), kinds[verify.PartUnlisted])
}
