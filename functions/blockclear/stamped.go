package blockclear

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// stamped remembers, for a while, the identity the webhook stamped on each
// clearance. Kubernaut's WorkflowExecution schema keeps clearedBy but prunes
// clearedByUID and clearedByGroups, so the audit event emitted when the
// clearance is seen persisted takes them from here. Seen by another replica
// or after a restart, the event names the verified clearedBy alone.
type stamped struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[stampKey]stampEntry
}

// stampKey is one clearance: the object and what the schema keeps of it.
type stampKey struct {
	wfe       types.UID
	clearedAt int64 // Unix seconds, as stored
	clearedBy string
}

type stampEntry struct {
	uid     string
	groups  []string
	expires time.Time
}

func newStamped(ttl time.Duration) *stamped {
	return &stamped{ttl: ttl, entries: map[stampKey]stampEntry{}}
}

// remember records the identity stamped on the clearance of object wfe.
func (s *stamped) remember(wfe types.UID, bc *BlockClearance, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if now.After(e.expires) {
			delete(s.entries, k)
		}
	}
	s.entries[stampKey{wfe, bc.ClearedAt.Unix(), bc.ClearedBy}] = stampEntry{bc.ClearedByUID, bc.ClearedByGroups, now.Add(s.ttl)}
}

// complete fills in the UID and groups of w's clearance when the stored
// object lacks them and this webhook stamped it.
func (s *stamped) complete(w *WorkflowExecution) {
	bc := w.Status.BlockClearance
	if bc.ClearedByUID != "" || len(bc.ClearedByGroups) > 0 {
		return
	}
	s.mu.Lock()
	e, ok := s.entries[stampKey{w.UID, bc.ClearedAt.Unix(), bc.ClearedBy}]
	s.mu.Unlock()
	if ok {
		bc.ClearedByUID, bc.ClearedByGroups = e.uid, e.groups
	}
}
