package verify

import (
	"context"
	"math"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
)

// seqPart is an archived part holding one event per batch of seqs.
type seqPart []int64

func (p seqPart) Object() (string, string, []byte) { return "", "", nil }

func (p seqPart) Seqs() (int64, int64) { return p[0], p[len(p)-1] }

func (p seqPart) Each(_ context.Context, fn func(*auditevent.Record)) error {
	for _, s := range p {
		fn(&auditevent.Record{Event: auditevent.Event{ID: uuid.New()}, LedgerSeq: s})
	}
	return nil
}

// A part goes to every span its batches meet, each getting its own
// batches' events, and is forgotten after the last; a part without a
// batch in scope goes to none.
func TestColdPartsAreSharedAndForgotten(t *testing.T) {
	spans := []span{{math.MinInt64, 5}, {5, 15}, {15, 35}, {35, math.MaxInt64}}
	parts := []ColdPart{seqPart{1, 4, 8, 10}, seqPart{9, 12, 20}, seqPart{40, 41}}
	perSpan, used := attachParts(parts, spans, nil)
	require.Len(t, used, 3)
	require.Len(t, perSpan[0], 1)
	require.Len(t, perSpan[1], 2)
	require.Len(t, perSpan[2], 1)
	require.Len(t, perSpan[3], 1)

	seqsOf := func(evs []checked) (out []int64) {
		for _, e := range evs {
			out = append(out, e.seq)
		}
		return out
	}
	first := perSpan[0][0]
	got, err := first.take(context.Background(), spans[0])
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 4}, seqsOf(got))
	assert.NotNil(t, first.events, "still needed by the next span")
	got, err = first.take(context.Background(), spans[1])
	require.NoError(t, err)
	assert.Equal(t, []int64{8, 10}, seqsOf(got))
	assert.Nil(t, first.events, "forgotten after its last span")

	scoped, used := attachParts(parts, spans, []int64{12, 20})
	assert.Len(t, used, 1, "only the part holding batches in scope is read")
	assert.Empty(t, scoped[0], "no batch of the first part is in scope")
	got, err = scoped[2][0].take(context.Background(), spans[2])
	require.NoError(t, err)
	assert.Equal(t, []int64{20}, seqsOf(got))
}
