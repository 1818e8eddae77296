package archive_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditevent"
)

var errCrash = errors.New("simulated crash")

// crashAt stops a run the first time it reaches one of points.
func crashAt(points ...archive.Point) func(archive.Point, time.Time, int) error {
	left := map[archive.Point]bool{}
	for _, p := range points {
		left[p] = true
	}
	return func(p archive.Point, _ time.Time, _ int) error {
		if left[p] {
			delete(left, p)
			return errCrash
		}
		return nil
	}
}

// seedDays writes events on each day and returns the hot rows per day.
func seedDays(t *testing.T, e *archivetest.Env, sizes map[time.Time]int) map[time.Time][]auditevent.Record {
	t.Helper()
	want := map[time.Time][]auditevent.Record{}
	for d, n := range sizes {
		e.Seed(t, d, n)
		want[d] = e.HotRecords(t, d)
	}
	return want
}

// assertStillHot: nothing of the days left PostgreSQL.
func assertStillHot(t *testing.T, e *archivetest.Env, want map[time.Time][]auditevent.Record) {
	t.Helper()
	for d, recs := range want {
		assert.Equal(t, int64(len(recs)), e.Count(t, d), "%s: every event still in PostgreSQL", d.Format(time.DateOnly))
	}
}

// assertArchivedOnce: every event of the days is in the archive exactly
// once, identical to what PostgreSQL held, and nowhere in PostgreSQL.
func assertArchivedOnce(t *testing.T, e *archivetest.Env, want map[time.Time][]auditevent.Record) {
	t.Helper()
	for d, recs := range want {
		got := e.ArchivedRecords(t, d)
		byID := map[uuid.UUID]auditevent.Record{}
		for _, r := range got {
			_, dup := byID[r.ID]
			require.False(t, dup, "event %s archived twice", r.ID)
			byID[r.ID] = r
		}
		require.Len(t, byID, len(recs), "%s: archived events", d.Format(time.DateOnly))
		for _, w := range recs {
			g, ok := byID[w.ID]
			require.True(t, ok, "event %s archived", w.ID)
			sameRecords(t, []auditevent.Record{w}, []auditevent.Record{g})
		}
		assert.False(t, e.PartitionExists(t, d), "%s: partition dropped", d.Format(time.DateOnly))
	}
	e.Manifests(t) // the chain is whole and every signature verifies
}

func TestACrashAtAnyStepLosesNothingAndDuplicatesNothing(t *testing.T) {
	for _, point := range []archive.Point{archive.AfterCheckpoint, archive.AfterUpload, archive.AfterManifest, archive.AfterVerify, archive.DuringDrop} {
		t.Run(string(point), func(t *testing.T) {
			t.Parallel()
			e := archivetest.New(t)
			ctx := context.Background()
			want := seedDays(t, e, map[time.Time]int{archivetest.DaysAgo(11): 300, archivetest.DaysAgo(10): 200})

			_, err := e.Compactor(t, archive.Options{Hook: crashAt(point)}).Run(ctx)
			require.ErrorIs(t, err, errCrash)
			assertStillHot(t, e, want)

			rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
			require.NoError(t, err)
			require.Len(t, rep.Days, 2)
			assertArchivedOnce(t, e, want)
			for d := range want {
				assert.Equal(t, []string{format.PartKey(d, 1)}, e.Keys(t, "audit_events/event_date="+d.Format(time.DateOnly)+"/"),
					"one object per day: the rerun adopted, never rewrote")
			}
			assert.Len(t, e.Manifests(t), 2)
		})
	}
}

func TestCrashingAtEveryStepInTurnStillArchivesEverythingOnce(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	want := seedDays(t, e, map[time.Time]int{archivetest.DaysAgo(9): 250})
	for _, point := range []archive.Point{archive.AfterCheckpoint, archive.AfterUpload, archive.AfterManifest, archive.AfterVerify, archive.DuringDrop} {
		_, err := e.Compactor(t, archive.Options{Hook: crashAt(point)}).Run(ctx)
		require.ErrorIs(t, err, errCrash, "run stopped at %s", point)
		assertStillHot(t, e, want)
	}
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assertArchivedOnce(t, e, want)
	assert.Len(t, e.Manifests(t), 1, "one manifest: each rerun adopted the one already stored")
}
