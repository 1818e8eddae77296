package catalogstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"function/shared/catalog"
	"function/shared/earlyconn"
)

// Snapshots holds the current catalog snapshot and replaces it whenever the
// catalog tables change (LISTEN auditfn_catalog), and after every reconnect
// of the listener, since notifications sent while disconnected are lost.
//
// Everything runs on the listener's one connection: each (re)connect LISTENs
// first and then loads (the backlog), so no change can fall between the two,
// and a function starting from zero opens one connection and loads once.
type Snapshots struct {
	log     *slog.Logger
	current atomic.Pointer[catalog.Catalog]
	first   chan error // the first load's outcome
	settled sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
}

// Watch connects, loads the first snapshot and keeps it current until Close.
// It fails if the first connection or load does.
func Watch(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) (*Snapshots, error) {
	s := &Snapshots{log: log, first: make(chan error, 1), done: make(chan struct{})}
	listener := &pgxlisten.Listener{
		// The first connection may already be open (earlyconn).
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return earlyconn.Connect(ctx, cfg.Copy()) },
		// Every failure comes here, a failed connect or first load too, and
		// the interrupted wait when Close stops the listener: not a warning.
		LogError: func(ctx context.Context, err error) {
			s.settle(err)
			if ctx.Err() == nil {
				log.Warn("catalog listener", "err", err)
			}
		},
		// Retry soon: until the listener is back, changes go unseen.
		ReconnectDelay: 2 * time.Second,
	}
	listener.Handle(Channel, s)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		_ = listener.Listen(bg)
	}()
	select {
	case err := <-s.first:
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("catalog snapshot: %w", err)
		}
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}

// settle reports the first load's outcome to Watch; later ones are not its.
func (s *Snapshots) settle(err error) {
	s.settled.Do(func() { s.first <- err })
}

// Current is the snapshot to serve from; it never changes under the caller.
func (s *Snapshots) Current() *catalog.Catalog { return s.current.Load() }

// Close stops watching.
func (s *Snapshots) Close() {
	s.cancel()
	<-s.done
}

// HandleNotification reloads on every change signal.
func (s *Snapshots) HandleNotification(ctx context.Context, _ *pgconn.Notification, conn *pgx.Conn) error {
	c, took, err := s.reload(ctx, conn)
	if err == nil {
		s.logLoaded(c, took)
	}
	return err
}

// HandleBacklog loads when the listener (re)connects: the first snapshot,
// or whatever changed while it was disconnected.
func (s *Snapshots) HandleBacklog(ctx context.Context, _ string, conn *pgx.Conn) error {
	c, took, err := s.reload(ctx, conn)
	if err != nil {
		return err
	}
	// Log after Watch has the snapshot: a starting function is not ready
	// until Watch returns, and the write to stderr took milliseconds of that.
	s.settle(nil)
	s.logLoaded(c, took)
	return nil
}

// reload swaps in a new snapshot. An invalid catalog in the database keeps
// the previous snapshot serving.
func (s *Snapshots) reload(ctx context.Context, q Querier) (*catalog.Catalog, time.Duration, error) {
	start := time.Now()
	c, err := Load(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	s.current.Store(c)
	return c, time.Since(start), nil
}

func (s *Snapshots) logLoaded(c *catalog.Catalog, took time.Duration) {
	s.log.Info("catalog snapshot loaded", "workflows", len(c.Workflows()), "took", took.Round(time.Millisecond).String())
}
