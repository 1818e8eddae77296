package emitter

import "function/shared/auditevent"

// ring is a fixed-capacity FIFO that overwrites its oldest entry when full.
// It is not safe for concurrent use; the Emitter guards it.
type ring struct {
	buf   []auditevent.Event
	head  int
	count int
}

func newRing(capacity int) *ring { return &ring{buf: make([]auditevent.Event, capacity)} }

// push appends ev and reports whether the oldest entry was dropped for it.
func (r *ring) push(ev auditevent.Event) (dropped bool) {
	if r.count == len(r.buf) {
		r.buf[r.head] = ev
		r.head = (r.head + 1) % len(r.buf)
		return true
	}
	r.buf[(r.head+r.count)%len(r.buf)] = ev
	r.count++
	return false
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
