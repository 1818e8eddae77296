package emitter

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/auditevent"
)

func ev(i int) auditevent.Event { return auditevent.Event{Subject: strconv.Itoa(i)} }

func subjects(evs []auditevent.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Subject
	}
	return out
}

func TestRingGrowsInOrderUpToItsBoundThenDropsTheOldest(t *testing.T) {
	r := newRing(200)
	// Wrap the ring before it grows, so growing has to unwrap it.
	for i := range 50 {
		assert.False(t, r.push(ev(i)))
	}
	assert.Equal(t, []string{"0", "1", "2"}, subjects(r.take(3)))
	want := []string{}
	for i := 3; i < 50; i++ {
		want = append(want, strconv.Itoa(i))
	}
	for i := 50; i < 203; i++ {
		assert.False(t, r.push(ev(i)), "event %d fits under the bound", i)
		want = append(want, strconv.Itoa(i))
	}
	assert.Equal(t, 200, r.len())
	assert.Equal(t, 200, len(r.buf), "never beyond the bound")
	assert.True(t, r.push(ev(203)), "full: the oldest goes")
	want = append(want[1:], "203")
	assert.Equal(t, want, subjects(r.take(1000)))
	assert.Zero(t, r.len())
}

func TestRingSmallerThanOneGrowthStep(t *testing.T) {
	r := newRing(3)
	for i := range 5 {
		r.push(ev(i))
	}
	assert.Equal(t, []string{"2", "3", "4"}, subjects(r.take(10)))
}
