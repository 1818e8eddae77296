package blockclear

import (
	"sync"
	"time"
)

// stamps remembers the clearance time given to each recent clearance, so an
// API server retry of the same admission call (same object, user and reason)
// gets the same clearedAt and therefore the same audit event id, instead of
// a second event for one clearance.
type stamps struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[stampKey]stamp
}

type stampKey struct{ uid, user, reason string }

type stamp struct {
	at      time.Time
	expires time.Time
}

func newStamps(ttl time.Duration) *stamps {
	return &stamps{ttl: ttl, entries: map[stampKey]stamp{}}
}

// at returns the clearance time for the key: the remembered one, or now
// (whole seconds, as the API server stores it).
func (s *stamps) at(uid, user, reason string, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if now.After(e.expires) {
			delete(s.entries, k)
		}
	}
	k := stampKey{uid, user, reason}
	if e, ok := s.entries[k]; ok {
		return e.at
	}
	at := now.UTC().Truncate(time.Second)
	s.entries[k] = stamp{at: at, expires: now.Add(s.ttl)}
	return at
}
