package archive_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/auditevent"
)

func TestLateEventsForAnArchivedDayBecomeItsNextPart(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	d := archivetest.DaysAgo(12)
	want := seedDays(t, e, map[time.Time]int{d: 100})
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	require.False(t, e.PartitionExists(t, d))

	e.Seed(t, d, 30) // re-creates the day's partition
	want[d] = append(want[d], e.HotRecords(t, d)...)
	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, []archive.DayReport{{Date: d.Format(time.DateOnly), Parts: []int{2}, Rows: 30, Dropped: true}}, rep.Days)
	assertArchivedOnce(t, e, want)
	ms := e.Manifests(t)
	require.Len(t, ms, 2)
	assert.Equal(t, 2, ms[1].Version)
	assert.Equal(t, int64(130), ms[1].RowCount, "the newest manifest covers both parts")
	assert.Equal(t, []string{format.PartKey(d, 1), format.PartKey(d, 2)}, []string{ms[1].Parts[0].Key, ms[1].Parts[1].Key})
	assert.Equal(t, ms[1].Parts[0].LedgerSeqThrough, ms[1].Parts[1].LedgerSeqAfter, "part 2 starts where part 1 ends")
}

func TestEventsArrivingBeforeTheDropAreArchivedBeforeIt(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	d := archivetest.DaysAgo(12)
	want := seedDays(t, e, map[time.Time]int{d: 100})
	var late []auditevent.Event
	rep, err := e.Compactor(t, archive.Options{Hook: func(p archive.Point, day time.Time, part int) error {
		if p == archive.AfterVerify && part == 1 {
			late = e.Seed(t, day, 25) // after verification, before the drop
		}
		return nil
	}}).Run(ctx)
	require.NoError(t, err)
	require.Len(t, late, 25)
	assert.Equal(t, []archive.DayReport{{Date: d.Format(time.DateOnly), Parts: []int{1, 2}, Rows: 125, Dropped: true}}, rep.Days)
	recs := e.ArchivedRecords(t, d)
	require.Len(t, recs, 125)
	want[d] = append(want[d], recs[100:]...)
	assertArchivedOnce(t, e, want)
}

func TestALargeDayIsSplitIntoPartsAtBatchBoundaries(t *testing.T) {
	e := archivetest.New(t)
	d := archivetest.DaysAgo(20)
	var want []auditevent.Record
	for range 3 { // three ledger batches of 300
		e.Seed(t, d, 300)
	}
	want = e.HotRecords(t, d)
	rep, err := e.Compactor(t, archive.Options{MaxPartRows: 500}).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, rep.Days[0].Parts)
	assert.Equal(t, []string{format.PartKey(d, 1), format.PartKey(d, 2)}, e.Keys(t, "audit_events/event_date="))
	assertArchivedOnce(t, e, map[time.Time][]auditevent.Record{d: want})
	ms := e.Manifests(t)
	require.Len(t, ms, 2)
	assert.Equal(t, []int64{600, 300}, []int64{ms[1].Parts[0].RowCount, ms[1].Parts[1].RowCount})
}

func TestOverlappingRunsDoTheWorkOnce(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	want := seedDays(t, e, map[time.Time]int{archivetest.DaysAgo(15): 120})
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := e.Compactor(t, archive.Options{Hook: func(p archive.Point, _ time.Time, _ int) error {
		if p == archive.AfterUpload {
			once.Do(func() { close(inside) })
			<-release
		}
		return nil
	}})
	done := make(chan error, 1)
	go func() { _, err := first.Run(ctx); done <- err }()
	<-inside
	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Skipped, "a second run while the first holds the lock does nothing")
	close(release)
	require.NoError(t, <-done)
	assertArchivedOnce(t, e, want)
}

func TestAnArchiveThatDoesNotMatchPostgreSQLIsNeverDropped(t *testing.T) {
	cases := map[string]func(t *testing.T, recs []auditevent.Record) []byte{
		"not parquet": func(*testing.T, []auditevent.Record) []byte { return []byte("PAR1 but not really") },
		"changed field": func(t *testing.T, recs []auditevent.Record) []byte {
			recs[3].ActorID = "mallory"
			return archivetest.Parquet(t, recs)
		},
		"missing row": func(t *testing.T, recs []auditevent.Record) []byte {
			return archivetest.Parquet(t, recs[1:])
		},
	}
	for name, forge := range cases {
		t.Run(name, func(t *testing.T) {
			e := archivetest.New(t)
			ctx := context.Background()
			d := archivetest.DaysAgo(14)
			want := seedDays(t, e, map[time.Time]int{d: 40})
			// An object already sits where part 1 goes, as if a crashed run
			// had stored it: the compactor adopts it, and must refuse it.
			body := forge(t, e.HotRecords(t, d))
			_, err := e.Bucket.Client(t).PutObject(ctx, e.Bucket.Name, format.PartKey(d, 1), bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			require.NoError(t, err)
			for range 2 {
				_, err = e.Compactor(t, archive.Options{}).Run(ctx)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "verify")
				assertStillHot(t, e, want)
				assert.True(t, e.PartitionExists(t, d))
			}
		})
	}
}
