package earlyconn

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/test/testenv"
)

func connConfig(t *testing.T, dsn string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	return cfg
}

func database(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var name string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT current_database()`).Scan(&name))
	return name
}

func TestTakeHandsOverTheEarlyConnection(t *testing.T) {
	db := testenv.NewDB(t)
	e := dial(db.AppDSN)
	conn, err := e.take(context.Background(), connConfig(t, db.AppDSN))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	assert.Same(t, e.conn, conn)
	assert.Equal(t, db.Name, database(t, conn))
}

func TestTakeDialsWhenTheEarlyConnectionDoesNotFit(t *testing.T) {
	a, b := testenv.NewDB(t), testenv.NewDB(t)
	ctx := context.Background()

	other := dial(a.AppDSN)
	conn, err := other.take(ctx, connConfig(t, b.AppDSN))
	require.NoError(t, err, "another DSN")
	assert.Equal(t, b.Name, database(t, conn))
	conn.Close(ctx)
	<-other.done
	require.Eventually(t, other.conn.IsClosed, 5*time.Second, 10*time.Millisecond, "the unused early connection is closed")

	failed := dial("postgres://nobody@127.0.0.1:1/none?connect_timeout=5")
	conn, err = failed.take(ctx, connConfig(t, b.AppDSN))
	require.NoError(t, err, "the early dial failed: dial again")
	assert.Equal(t, b.Name, database(t, conn))
	conn.Close(ctx)

	var none *early // taken already, or never dialled
	conn, err = none.take(ctx, connConfig(t, b.AppDSN))
	require.NoError(t, err)
	assert.Equal(t, b.Name, database(t, conn))
	conn.Close(ctx)
}

func TestTakeGivesUpWithItsContext(t *testing.T) {
	// A server that accepts and never answers: the early dial hangs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	dsn := "postgres://nobody@" + l.Addr().String() + "/none?connect_timeout=2"
	e := dial(dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = e.take(ctx, connConfig(t, dsn))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConnectTakesTheEarlyConnectionOnce(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	mu.Lock()
	first = dial(db.AppDSN)
	e := first
	mu.Unlock()

	c1, err := Connect(ctx, connConfig(t, db.AppDSN))
	require.NoError(t, err)
	defer c1.Close(ctx)
	c2, err := Connect(ctx, connConfig(t, db.AppDSN))
	require.NoError(t, err)
	defer c2.Close(ctx)
	assert.Same(t, e.conn, c1)
	assert.NotSame(t, c1, c2, "the second connect dials its own")
}
