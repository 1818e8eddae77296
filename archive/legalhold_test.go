package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/bucket"
	"function/archive/format"
	"function/shared/auditstore"
	"function/test/fixtures"
)

func openStore(t *testing.T, e *archivetest.Env) *bucket.Store {
	t.Helper()
	st, err := bucket.Open(context.Background(), e.Config().Bucket)
	require.NoError(t, err)
	return st
}

// flows writes one fixture flow per correlation id on day d.
func flows(t *testing.T, e *archivetest.Env, d time.Time, rrs ...string) {
	t.Helper()
	w, err := auditstore.NewWriter(context.Background(), e.Pool, auditstore.Options{})
	require.NoError(t, err)
	defer w.Close()
	for _, rr := range rrs {
		_, err := w.Write(context.Background(), fixtures.Flow(rr, d.Add(time.Hour)))
		require.NoError(t, err)
	}
}

// heldParts maps every archived part of the Env to whether it is under S3
// legal hold.
func heldParts(t *testing.T, e *archivetest.Env, st *bucket.Store) map[string]bool {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), `SELECT object_key, object_version FROM audit.archive_days WHERE state = 'uploaded'`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var key, version string
		require.NoError(t, rows.Scan(&key, &version))
		on, err := st.LegalHold(context.Background(), key, version)
		require.NoError(t, err)
		out[key[len("audit_events/event_date="):len("audit_events/event_date=2006-01-02")]] = on
	}
	require.NoError(t, rows.Err())
	return out
}

func day(n int) string { return archivetest.DaysAgo(n).Format(time.DateOnly) }

// heldEvidence maps each manifest's day (and "keys") to whether the
// manifest, its signature and the public keys are under S3 legal hold,
// failing if a manifest and its signature disagree.
func heldEvidence(t *testing.T, st *bucket.Store) map[string]bool {
	t.Helper()
	ctx := context.Background()
	objs, err := st.List(ctx, format.ManifestPrefix)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, o := range objs {
		on, err := st.LegalHold(ctx, o.Key, o.VersionID)
		require.NoError(t, err)
		name := "keys"
		if !strings.HasPrefix(o.Key, format.ManifestPrefix+"keys/") {
			name = o.Key[len(format.ManifestPrefix+"event_date="):][:len(time.DateOnly)]
		}
		if prev, seen := out[name]; seen && name != "keys" {
			require.Equal(t, prev, on, "%s: a manifest and its signature are held alike", o.Key)
		}
		out[name] = on
	}
	return out
}

// A hold reaches every archived part of its correlation id, and the parts
// archived while it lasts; a release lifts it except where another hold
// still needs the part.
func TestLegalHoldFollowsTheCorrelationsParts(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	st := openStore(t, e)
	holds := archive.NewHolds(e.Pool, st)
	flows(t, e, archivetest.DaysAgo(12), "rr-held", "rr-other")
	flows(t, e, archivetest.DaysAgo(11), "rr-held")
	flows(t, e, archivetest.DaysAgo(10), "rr-free")
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{day(12): false, day(11): false, day(10): false}, heldParts(t, e, st))

	_, err = holds.Place(ctx, "rr-never-archived", "litigation 7", "alice")
	require.NoError(t, err, "a hold with nothing archived yet is fine")
	placed, err := holds.Place(ctx, "rr-held", "litigation 42", "alice")
	require.NoError(t, err)
	assert.Equal(t, archive.HoldPlaced, placed.Action)
	assert.Equal(t, map[string]bool{day(12): true, day(11): true, day(10): false}, heldParts(t, e, st))
	assert.Equal(t, map[string]bool{day(12): true, day(11): true, day(10): false, "keys": true}, heldEvidence(t, st),
		"and what verifies them: their manifests, signatures and the public key")

	_, err = holds.Place(ctx, "rr-held", "again", "bob")
	var state *archive.ErrHoldState
	require.ErrorAs(t, err, &state)
	assert.Equal(t, placed, *state.Newest)

	flows(t, e, archivetest.DaysAgo(9), "rr-held", "rr-never-archived")
	flows(t, e, archivetest.DaysAgo(8), "rr-free")
	_, err = e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{day(12): true, day(11): true, day(10): false, day(9): true, day(8): false}, heldParts(t, e, st),
		"a part archived during the hold gets it")
	assert.Equal(t, map[string]bool{day(12): true, day(11): true, day(10): false, day(9): true, day(8): false, "keys": true}, heldEvidence(t, st),
		"and so does its manifest")

	_, err = holds.Place(ctx, "rr-other", "audit 3", "carol")
	require.NoError(t, err)
	_, err = holds.Release(ctx, "rr-held", "case closed", "alice")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{day(12): true, day(11): false, day(10): false, day(9): true, day(8): false}, heldParts(t, e, st),
		"day 12 still holds rr-other, day 9 rr-never-archived")
	_, err = holds.Release(ctx, "rr-other", "done", "carol")
	require.NoError(t, err)
	_, err = holds.Release(ctx, "rr-never-archived", "done", "alice")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{day(12): false, day(11): false, day(10): false, day(9): false, day(8): false}, heldParts(t, e, st))
	assert.Equal(t, map[string]bool{day(12): false, day(11): false, day(10): false, day(9): false, day(8): false, "keys": false}, heldEvidence(t, st))

	_, err = holds.Release(ctx, "rr-held", "twice", "alice")
	require.ErrorAs(t, err, &state)
	_, err = holds.Release(ctx, "rr-unknown", "never held", "alice")
	require.ErrorAs(t, err, &state)
	assert.Nil(t, state.Newest)

	list, err := holds.List(ctx, "rr-held")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "litigation 42", list[0][0].Reason)
	assert.Equal(t, "case closed", list[0][1].Reason)
	all, err := holds.List(ctx, "")
	require.NoError(t, err)
	assert.Len(t, all, 3)
	assert.Equal(t, int64(6), e.DB.Count(t, "audit.legal_holds"), "three holds placed and released; the refused actions stored nothing")
}

// A hold placed while a part is being uploaded, before the compactor
// records it, is not missed, whether the run goes on or crashes there.
func TestAHoldPlacedDuringAnUploadReachesThePart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			t.Parallel()
			e := archivetest.New(t)
			ctx := context.Background()
			st := openStore(t, e)
			holds := archive.NewHolds(e.Pool, st)
			flows(t, e, archivetest.DaysAgo(10), "rr-mid")
			hook := func(p archive.Point, _ time.Time, _ int) error {
				if p != archive.AfterUpload {
					return nil
				}
				_, err := holds.Place(ctx, "rr-mid", "placed mid-upload", "alice")
				require.NoError(t, err)
				if crash {
					return errCrash
				}
				return nil
			}
			_, err := e.Compactor(t, archive.Options{Hook: hook}).Run(ctx)
			if crash {
				require.ErrorIs(t, err, errCrash)
				_, err = e.Compactor(t, archive.Options{}).Run(ctx)
			}
			require.NoError(t, err)
			assert.Equal(t, map[string]bool{day(10): true}, heldParts(t, e, st))
			assert.Equal(t, map[string]bool{day(10): true, "keys": true}, heldEvidence(t, st), "the manifest written after the hold is held")
		})
	}
}

// S3 semantics the hold relies on: a version under legal hold cannot be
// deleted after its retention ends; released, it can.
func TestAHeldObjectOutlivesItsRetention(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	st := openStore(t, e)
	body := []byte("held evidence")
	sum := sha256.Sum256(body)
	until := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	version, err := st.PutLocked(ctx, "test/held", bytes.NewReader(body), int64(len(body)), sum[:], "text/plain", until)
	require.NoError(t, err)
	require.NoError(t, st.SetLegalHold(ctx, "test/held", version, true))
	time.Sleep(time.Until(until) + time.Second)

	c := e.Bucket.Client(t)
	del := func() error {
		return c.RemoveObject(ctx, e.Bucket.Name, "test/held", minio.RemoveObjectOptions{VersionID: version})
	}
	require.Error(t, del(), "held past its retention: not deletable")
	require.NoError(t, st.SetLegalHold(ctx, "test/held", version, false))
	require.NoError(t, del(), "released and past its retention: deletable")
}
