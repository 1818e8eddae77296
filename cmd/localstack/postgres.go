package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"function/shared/pgdb"
)

const (
	adminRole = "auditfn_admin" // superuser of the throwaway cluster; owns the schema
	appRole   = "auditfn_app"   // what the functions connect as: INSERT and SELECT only
	mainDB    = "auditfn"
)

// postgres is a throwaway cluster. initdb and the server refuse to run as
// root, so when we are root they run as the unprivileged "postgres" user.
type postgres struct {
	bin   string // directory of initdb, pg_ctl
	dir   string // cluster directory: data/, run/, log
	port  int
	runAs *user.User // nil: run as ourselves
}

func newPostgres(local string, port int) (*postgres, error) {
	bin, err := findPGBin()
	if err != nil {
		return nil, err
	}
	p := &postgres{bin: bin, dir: filepath.Join(local, "pg"), port: port}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New(`running as root needs an unprivileged "postgres" user for initdb (useradd -r postgres)`)
		}
		p.runAs = u
		// The postgres user must be able to reach its directory; a checkout
		// under a private directory (mode 0700) is not reachable, so the
		// cluster then lives in a temp directory named after the checkout.
		if exec.Command("runuser", "-u", "postgres", "--", "test", "-x", local).Run() != nil {
			sum := sha256.Sum256([]byte(local))
			p.dir = filepath.Join(os.TempDir(), "auditfn-pg-"+hex.EncodeToString(sum[:6]))
		}
	}
	return p, nil
}

// findPGBin finds the PostgreSQL server binaries on PATH or in the Debian
// location, preferring the newest major version.
func findPGBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")
}

func (p *postgres) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *postgres) dsn(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, p.port, db)
}

// command runs a PostgreSQL binary as the cluster's user.
func (p *postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.runAs == nil {
		return exec.CommandContext(ctx, path, args...)
	}
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", p.runAs.Username, "--", path}, args...)...)
}

func (p *postgres) run(ctx context.Context, name string, args ...string) error {
	out, err := p.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (p *postgres) up(ctx context.Context) error {
	if err := p.initdb(ctx); err != nil {
		return err
	}
	if p.command(ctx, "pg_ctl", "status", "-D", p.dataDir()).Run() != nil {
		// Not running (a stale postmaster.pid is detected and replaced by the server itself).
		if err := p.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", p.dataDir(), "-l", filepath.Join(p.dir, "server.log")); err != nil {
			return err
		}
	}
	if err := p.createDB(ctx); err != nil {
		return err
	}
	return pgdb.Migrate(ctx, p.dsn(adminRole, mainDB))
}

func (p *postgres) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	run := filepath.Join(p.dir, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		return err
	}
	if p.runAs != nil {
		uid, _ := strconv.Atoi(p.runAs.Uid)
		gid, _ := strconv.Atoi(p.runAs.Gid)
		for _, d := range []string{p.dir, run} {
			if err := os.Chown(d, uid, gid); err != nil {
				return err
			}
		}
	}
	if err := p.run(ctx, "initdb", "-D", p.dataDir(), "-U", adminRole, "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
		return err
	}
	// Local throwaway settings: loopback only, own socket dir, room for many
	// test databases in parallel.
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
max_connections = 400
shared_buffers = 256MB
max_wal_size = 2GB
log_min_messages = warning
`, p.port, run)
	f, err := os.OpenFile(filepath.Join(p.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(conf)
	return err
}

func (p *postgres) createDB(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn(adminRole, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, mainDB).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+mainDB); err != nil {
			return err
		}
	}
	return nil
}

func (p *postgres) down(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir(), "postmaster.pid")); err != nil {
		return nil
	}
	if p.command(ctx, "pg_ctl", "status", "-D", p.dataDir()).Run() != nil {
		return nil
	}
	return p.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", p.dataDir())
}
