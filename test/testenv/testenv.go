// Package testenv gives tests the real local stack that `make up` started:
// a fresh PostgreSQL database per call, migrated, dropped after the test.
// Tests fail (never skip) when the stack is not running: `make test` always
// starts it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/pgdb"
)

// Root is the repository root.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found")
		}
		dir = parent
	}
}

// Env is the stack's settings from .local/stack.env.
func Env(t testing.TB) map[string]string {
	t.Helper()
	env, err := config.ReadFile(filepath.Join(Root(t), ".local", "stack.env"))
	if err != nil {
		t.Fatalf("local stack not started (run `make up`): %v", err)
	}
	return env
}

// DB is a fresh, migrated database.
type DB struct {
	Name     string
	AdminDSN string // schema owner, superuser of the local cluster
	AppDSN   string // the functions' role: INSERT and SELECT only
}

// CatalogDSN is the catalog sync's role: it writes the catalog tables.
func (db DB) CatalogDSN(t testing.TB) string {
	u, err := url.Parse(db.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("auditfn_catalog")
	return u.String()
}

// SocketDSN is dsn through PostgreSQL's unix socket instead of TCP, for a
// process in a private network namespace (Netns), where the server's
// 127.0.0.1 is out of reach but the filesystem is the same. The socket
// directory is the one cmd/localstack/postgres.go configures.
func SocketDSN(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("host", filepath.Join(Root(t), ".local", "pg", "run"))
	q.Set("port", u.Port())
	u.Host, u.RawQuery = "", q.Encode()
	return u.String()
}

// NewDB creates a database for this test, migrates it and drops it when the
// test ends.
func NewDB(t testing.TB) DB {
	t.Helper()
	env := Env(t)
	admin, app := env["AUDITFN_PG_ADMIN_DSN"], env["AUDITFN_PG_DSN"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, withDB(t, admin, "postgres"))
	if err != nil {
		t.Fatalf("connect to local PostgreSQL (run `make up`): %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	db := DB{Name: name, AdminDSN: withDB(t, admin, name), AppDSN: withDB(t, app, name)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, withDB(t, admin, "postgres"))
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	if err := pgdb.Migrate(ctx, db.AdminDSN); err != nil {
		t.Fatal(err)
	}
	return db
}

func withDB(t testing.TB, dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("bad DSN in stack.env: %v", err)
	}
	u.Path = "/" + db
	return u.String()
}

// Scalar runs sql as admin and returns the single value it selects.
func (db DB) Scalar(t testing.TB, sql string, args ...any) any {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v any
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// Count is SELECT count(*) with the given FROM/WHERE tail.
func (db DB) Count(t testing.TB, tail string, args ...any) int64 {
	t.Helper()
	return db.Scalar(t, "SELECT count(*) FROM "+tail, args...).(int64)
}

// NewWriter is a fresh database with the collector's group-commit writer
// on a pool of the application role, as the collector runs it.
func NewWriter(t testing.TB) (DB, *pgxpool.Pool, *auditstore.Writer) {
	t.Helper()
	db := NewDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	w, err := auditstore.NewWriter(ctx, pool, auditstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return db, pool, w
}
