package verify

import (
	"context"
	"slices"
	"sort"
	"sync"

	"function/shared/auditevent"
)

// ColdPart is one archived object: events whose hot rows were dropped.
type ColdPart interface {
	// Object names it: key, version and SHA-256, as recorded when it was
	// verified, for the check against the signed manifests.
	Object() (key, version string, sha256 []byte)
	// Seqs is the range of ledger batches its events belong to.
	Seqs() (first, last int64)
	// Each calls fn with each of its events; fn must not keep the pointer.
	Each(ctx context.Context, fn func(*auditevent.Record)) error
}

// coldPart hands an archived part's events to the spans that need them. It
// is read once, by the first of them, and forgotten after the last, so only
// the parts under the spans in flight are in memory.
type coldPart struct {
	part        ColdPart
	first, last int64
	scope       []int64 // the scope's batches, sorted; nil: all

	mu     sync.Mutex
	loaded bool
	events []checked // the part's events in scope, in chain order
	users  int       // spans yet to take their share
}

// attachParts gives each span the archived parts holding events of its
// batches (in scope), and returns those parts.
func attachParts(parts []ColdPart, spans []span, scope []int64) ([][]*coldPart, []ColdPart) {
	perSpan := make([][]*coldPart, len(spans))
	var used []ColdPart
	for _, ap := range parts {
		p := &coldPart{part: ap, scope: scope}
		p.first, p.last = ap.Seqs()
		if scope != nil {
			i := sort.Search(len(scope), func(i int) bool { return scope[i] >= p.first })
			if i == len(scope) || scope[i] > p.last {
				continue // none of its batches is in scope
			}
		}
		for i, sp := range spans {
			if p.last > sp.after && p.first <= sp.through {
				perSpan[i] = append(perSpan[i], p)
				p.users++
			}
		}
		if p.users > 0 {
			used = append(used, ap)
		}
	}
	return perSpan, used
}

// take returns the part's events of span sp, reading the part first if no
// span has yet.
func (p *coldPart) take(ctx context.Context, sp span) ([]checked, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		var err error
		p.events, err = checkAll(p.events, func(fn func(*auditevent.Record)) error {
			return p.part.Each(ctx, func(r *auditevent.Record) {
				if _, in := slices.BinarySearch(p.scope, r.LedgerSeq); in || p.scope == nil {
					fn(r)
				}
			})
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(p.events, byChainPosition)
		p.loaded = true
	}
	lo := sort.Search(len(p.events), func(i int) bool { return p.events[i].seq > sp.after })
	hi := sort.Search(len(p.events), func(i int) bool { return p.events[i].seq > sp.through })
	share := slices.Clone(p.events[lo:hi])
	if p.users--; p.users == 0 {
		p.events = nil
	}
	return share, nil
}
