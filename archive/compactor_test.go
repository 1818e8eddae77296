package archive_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/integrity"
)

// sameRecords compares archived rows with hot rows field by field.
func sameRecords(t *testing.T, want, got []auditevent.Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.True(t, w.Time.Equal(g.Time) && w.EventDate.Equal(g.EventDate) && w.ReceivedAt.Equal(g.ReceivedAt),
			"row %d times: want %v %v %v, got %v %v %v", i, w.Time, w.EventDate, w.ReceivedAt, g.Time, g.EventDate, g.ReceivedAt)
		w.Time, w.EventDate, w.ReceivedAt = g.Time, g.EventDate, g.ReceivedAt
		require.Equal(t, w, g, "row %d", i)
	}
}

func TestCompactsColdDaysToVerifiedParquetAndDropsThem(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	cold := []time.Time{archivetest.DaysAgo(10), archivetest.DaysAgo(9), archivetest.DaysAgo(8)}
	hot := archivetest.DaysAgo(7) // inside the 7-day window: stays
	want := map[time.Time][]auditevent.Record{}
	for i, d := range cold {
		e.Seed(t, d, 400+i*137)
		want[d] = e.HotRecords(t, d)
	}
	e.Seed(t, hot, 50)

	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Days, len(cold), "%+v", rep)
	for i, d := range cold {
		assert.Equal(t, archive.DayReport{Date: d.Format(time.DateOnly), Parts: []int{1}, Rows: int64(len(want[d])), Dropped: true}, rep.Days[i])
		got := e.ArchivedRecords(t, d)
		sameRecords(t, want[d], got)
		for _, r := range got {
			require.Equal(t, r.Hash, integrity.EventHash(&r), "event %s recomputes to its event_hash", r.ID)
		}
		assert.False(t, e.PartitionExists(t, d), "partition of %s dropped", d)
		assert.Equal(t, []string{format.ManifestKey(d, 1), format.ManifestKey(d, 1) + ".sig"},
			e.Keys(t, "audit_events/_manifests/event_date="+d.Format(time.DateOnly)+"/"))
	}
	assert.Equal(t, int64(50), e.Count(t, hot), "the hot day is untouched")

	again, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assert.Empty(t, again.Days, "a second run finds nothing to do")
}

func TestARunWithinABudgetLeavesTheRestForTheNext(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	older, newer := archivetest.DaysAgo(21), archivetest.DaysAgo(20)
	want := seedDays(t, e, map[time.Time]int{older: 20, newer: 30})
	c := e.Compactor(t, archive.Options{RunBudget: time.Nanosecond})

	rep, err := c.Run(ctx)
	require.NoError(t, err)
	assert.True(t, rep.More)
	require.Len(t, rep.Days, 1)
	assert.Equal(t, older.Format(time.DateOnly), rep.Days[0].Date, "oldest first")

	rep, err = c.Run(ctx)
	require.NoError(t, err)
	assert.False(t, rep.More)
	require.Len(t, rep.Days, 1)
	assert.Equal(t, newer.Format(time.DateOnly), rep.Days[0].Date)
	assertArchivedOnce(t, e, want)
}
