package catalogstore

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"

	"function/shared/catalog"
)

// Snapshots holds the current catalog snapshot and replaces it whenever the
// catalog tables change (LISTEN auditfn_catalog), and after every reconnect
// of the listener, since notifications sent while disconnected are lost.
type Snapshots struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	current atomic.Pointer[catalog.Catalog]
	cancel  context.CancelFunc
	done    chan struct{}
}

// Watch loads the first snapshot and keeps it current until Close.
func Watch(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*Snapshots, error) {
	s := &Snapshots{pool: pool, log: log, done: make(chan struct{})}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
		},
		LogError: func(_ context.Context, err error) { log.Warn("catalog listener", "err", err) },
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
	return s, nil
}

// Current is the snapshot to serve from; it never changes under the caller.
func (s *Snapshots) Current() *catalog.Catalog { return s.current.Load() }

// Close stops watching.
func (s *Snapshots) Close() {
	s.cancel()
	<-s.done
}

// HandleNotification reloads on every change signal.
func (s *Snapshots) HandleNotification(ctx context.Context, _ *pgconn.Notification, _ *pgx.Conn) error {
	return s.reload(ctx)
}

// HandleBacklog reloads when the listener (re)connects.
func (s *Snapshots) HandleBacklog(ctx context.Context, _ string, _ *pgx.Conn) error {
	return s.reload(ctx)
}

// reload swaps in a new snapshot. An invalid catalog in the database keeps
// the previous snapshot serving.
func (s *Snapshots) reload(ctx context.Context) error {
	start := time.Now()
	c, err := Load(ctx, s.pool)
	if err != nil {
		return err
	}
	s.current.Store(c)
	s.log.Info("catalog snapshot loaded", "workflows", len(c.Workflows()), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}
