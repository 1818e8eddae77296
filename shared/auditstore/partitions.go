package auditstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/auditevent"
)

// partitions makes sure a day partition exists before rows for it are
// written, remembering the days it has seen so the common case costs nothing.
type partitions struct {
	pool  *pgxpool.Pool
	mu    sync.Mutex
	known map[time.Time]bool
}

func newPartitions(pool *pgxpool.Pool) *partitions {
	return &partitions{pool: pool, known: map[time.Time]bool{}}
}

// ensure creates any missing partition among days (UTC midnights).
func (p *partitions) ensure(ctx context.Context, days []time.Time) error {
	for _, d := range days {
		p.mu.Lock()
		known := p.known[d]
		p.mu.Unlock()
		if known {
			continue
		}
		if _, err := p.pool.Exec(ctx, `SELECT audit.ensure_partition($1)`, d); err != nil {
			return err
		}
		p.mu.Lock()
		p.known[d] = true
		p.mu.Unlock()
	}
	return nil
}

// forget drops days from the cache, for when their partitions were dropped
// (archived) behind this process's back.
func (p *partitions) forget(days []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range days {
		delete(p.known, d)
	}
}

// ahead creates the partitions from yesterday to `days` days after today.
func (p *partitions) ahead(ctx context.Context, now time.Time, days int) error {
	today := auditevent.Day(now)
	list := make([]time.Time, 0, days+2)
	for i := -1; i <= days; i++ {
		list = append(list, today.AddDate(0, 0, i))
	}
	return p.ensure(ctx, list)
}
