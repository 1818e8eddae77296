package format_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive/format"
	"function/shared/auditevent"
	"function/test/loadgen"
)

// LedgerPlaces reads back, from its three columns alone, what ReadParquet
// reads of the same rows.
func TestLedgerPlacesMatchFullRows(t *testing.T) {
	seq := 0
	var recs []auditevent.Record
	for i, ev := range loadgen.Batch(300, &seq) {
		r := auditevent.NewRecord(ev)
		r.ReceivedAt = time.Now()
		r.LedgerSeq, r.LedgerPos = int64(10+i/7), int32(i%7)
		r.Hash = make([]byte, 32)
		recs = append(recs, r)
	}
	var part bytes.Buffer
	w, err := format.NewWriter(&part)
	require.NoError(t, err)
	for i := range recs {
		require.NoError(t, w.Add(&recs[i]))
	}
	require.NoError(t, w.Close())

	type place struct {
		t   time.Time
		c   string
		seq int64
	}
	var want, got []place
	require.NoError(t, format.ReadParquet(context.Background(), bytes.NewReader(part.Bytes()), func(r *auditevent.Record) error {
		want = append(want, place{r.Time, r.CorrelationID, r.LedgerSeq})
		return nil
	}))
	require.NoError(t, format.LedgerPlaces(context.Background(), bytes.NewReader(part.Bytes()), func(tm time.Time, c string, s int64) {
		got = append(got, place{tm, c, s})
	}))
	require.Len(t, want, 300)
	assert.Equal(t, want, got)
	assert.NotEqual(t, got[0].c, got[299].c, "the rows differ, so the comparison means something")
}
