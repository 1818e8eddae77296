package emitter

import "function/shared/auditevent"

// ring is a bounded FIFO that overwrites its oldest entry when full. Its
// storage grows on demand up to the bound: an idle function would otherwise
// fault in the whole buffer (about 2.5 MiB at the default 10,000 events)
// while it starts from zero. It is not safe for concurrent use; the Emitter
// guards it.
type ring struct {
	buf   []auditevent.Event
	max   int
	head  int
	count int
}

func newRing(capacity int) *ring { return &ring{max: capacity} }

// push appends ev and reports whether the oldest entry was dropped for it.
func (r *ring) push(ev auditevent.Event) (dropped bool) {
	if r.count == len(r.buf) && len(r.buf) < r.max {
		r.grow()
	}
	if r.count == len(r.buf) {
		r.buf[r.head] = ev
		r.head = (r.head + 1) % len(r.buf)
		return true
	}
	r.buf[(r.head+r.count)%len(r.buf)] = ev
	r.count++
	return false
}

// grow doubles the storage, capped at max, keeping the entries in order.
func (r *ring) grow() {
	next := make([]auditevent.Event, min(max(2*len(r.buf), 64), r.max))
	n := copy(next, r.buf[r.head:])
	copy(next[n:], r.buf[:r.head])
	r.buf, r.head = next, 0
}

// take removes and returns up to n of the oldest entries.
func (r *ring) take(n int) []auditevent.Event {
	n = min(n, r.count)
	out := make([]auditevent.Event, n)
	for i := range out {
		out[i] = r.buf[r.head]
		r.buf[r.head] = auditevent.Event{}
		r.head = (r.head + 1) % len(r.buf)
	}
	r.count -= n
	return out
}

func (r *ring) len() int { return r.count }
