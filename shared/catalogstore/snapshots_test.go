package catalogstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalogstore"
)

// Start-up fails, rather than waits, when the first connection fails.
func TestWatchFailsWhenTheFirstConnectDoes(t *testing.T) {
	cfg, err := pgx.ParseConfig("postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	_, err = catalogstore.Watch(context.Background(), cfg, slog.Default())
	assert.ErrorContains(t, err, "catalog snapshot")
}

// The first snapshot is there when Watch returns; a catalog saved later
// replaces it without a restart.
func TestWatchLoadsThenFollowsChanges(t *testing.T) {
	ctx := context.Background()
	cfg, conn := withCatalog(t, 10)
	snaps, err := catalogstore.Watch(ctx, cfg, slog.Default())
	require.NoError(t, err)
	defer snaps.Close()
	require.Len(t, snaps.Current().Workflows(), 10)

	require.NoError(t, save(ctx, conn, generated(t, 25, 1)))
	assert.Eventually(t, func() bool { return len(snaps.Current().Workflows()) == 25 }, 10*time.Second, 10*time.Millisecond)
}

// Close is a normal stop: it logs no listener warning.
func TestCloseWarnsOfNothing(t *testing.T) {
	cfg, _ := withCatalog(t, 3)
	var logged bytes.Buffer
	snaps, err := catalogstore.Watch(context.Background(), cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	require.NoError(t, err)
	snaps.Close()
	assert.Contains(t, logged.String(), "catalog snapshot loaded")
	assert.NotContains(t, logged.String(), "level=WARN")
}

// withCatalog saves n generated workflows and returns how the functions'
// role connects, and the loader's connection.
func withCatalog(t *testing.T, n int) (*pgx.ConnConfig, *pgx.Conn) {
	db, conn := adminConn(t)
	cfg, err := pgx.ParseConfig(db.AppDSN)
	require.NoError(t, err)
	require.NoError(t, save(context.Background(), conn, generated(t, n, 1)))
	return cfg, conn
}
