// Package earlyconn opens a discovery function's first PostgreSQL connection
// while the process is still initialising its packages.
//
// A discovery function scaled to zero is not ready before its first catalog
// snapshot is loaded, and it cannot load before it has a connection: a new
// backend takes about 25 ms to start on the development VM, and the process
// spends about as long again initialising packages before main runs. Go
// initialises a package as soon as its imports are, and this one imports
// only pgx, config and the standard library, so its init runs early in that
// phase; it dials from there, concurrently with the rest, and Start takes the
// connection instead of dialling (docs/performance.md: ready 11–18 ms sooner
// in an interleaved A/B).
package earlyconn

import (
	"context"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"function/shared/config"
)

// Functions are the functions whose Start opens its first connection with
// Connect: discovery's. The others open a pool; a connection dialled for
// them would be a backend held for nothing.
var Functions = []string{"actions", "validate", "workflow", "workflows"}

// dialTimeout bounds the early dial; a connect_timeout in the DSN may end it sooner.
const dialTimeout = 30 * time.Second

var (
	mu    sync.Mutex
	first *early // dialled at init, until Connect takes it
)

func init() {
	if slices.Contains(Functions, os.Getenv(config.Function)) {
		if dsn := os.Getenv(config.PGDSN); dsn != "" {
			first = dial(dsn)
		}
	}
}

// early is a connection being dialled in the background.
type early struct {
	dsn  string
	done chan struct{} // closed when conn or err is set
	conn *pgx.Conn
	err  error
}

func dial(dsn string) *early {
	e := &early{dsn: dsn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		e.conn, e.err = pgx.Connect(ctx, dsn)
	}()
	return e
}

// Connect returns the connection dialled at start-up if it was dialled to
// cfg's connection string, succeeded and was not taken before; otherwise it
// dials cfg.
func Connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	mu.Lock()
	e := first
	first = nil
	mu.Unlock()
	return e.take(ctx, cfg)
}

func (e *early) take(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	if e == nil {
		return pgx.ConnectConfig(ctx, cfg)
	}
	if e.dsn != cfg.ConnString() {
		e.discard()
		return pgx.ConnectConfig(ctx, cfg)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		e.discard()
		return nil, ctx.Err()
	}
	if e.err != nil { // PostgreSQL may have come up since: try again now
		return pgx.ConnectConfig(ctx, cfg)
	}
	return e.conn, nil
}

// discard closes the connection once its dial is over.
func (e *early) discard() {
	go func() {
		<-e.done
		if e.conn != nil {
			e.conn.Close(context.Background())
		}
	}()
}
