package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	// minioModule is the pinned MinIO server, built from source once.
	minioModule   = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
	minioUser     = "auditfn"
	minioPassword = "auditfn-local-secret"
	mainBucket    = "auditfn-archive"
)

// minio is a single-drive MinIO server, detached from this process so it
// outlives `make up`.
type minio struct {
	local string
	dir   string
	port  int
}

func newMinio(local string, port int) *minio {
	return &minio{local: local, dir: filepath.Join(local, "minio"), port: port}
}

func (m *minio) binary() string   { return filepath.Join(m.local, "bin", "minio") }
func (m *minio) pidFile() string  { return filepath.Join(m.dir, "minio.pid") }
func (m *minio) endpoint() string { return fmt.Sprintf("127.0.0.1:%d", m.port) }

func (m *minio) up(ctx context.Context) error {
	if err := m.build(ctx); err != nil {
		return err
	}
	if !m.healthy() {
		m.daemon().kill() // a recorded server that runs but does not answer
		if err := m.start(); err != nil {
			return err
		}
	}
	c, err := miniogo.New(m.endpoint(), &miniogo.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		return err
	}
	if err := ensureBucket(ctx, c); err != nil {
		return err
	}
	if n := sweepBuckets(ctx, c, testBucketPrefix, testBucketMinAge, 15*time.Second); n > 0 {
		slog.Info("removed expired test buckets", "count", n)
	}
	return nil
}

func (m *minio) build(ctx context.Context) error {
	if _, err := os.Stat(m.binary()); err == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "building MinIO once into .local/bin (about 5 minutes)...")
	cmd := exec.CommandContext(ctx, "go", "install", minioModule)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(m.binary()), "GOFLAGS=-mod=mod")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go install %s: %w", minioModule, err)
	}
	return nil
}

func (m *minio) healthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.endpoint() + "/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (m *minio) daemon() daemon {
	return daemon{name: "MinIO", pidFile: m.pidFile(), logFile: filepath.Join(m.dir, "server.log")}
}

func (m *minio) start() error {
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	// The background scanner (lifecycle, healing, usage figures) has nothing
	// to do for a throwaway single drive, yet walked every test bucket: with
	// hundreds of them it took 7-15% of a core from the benchmarks. Object
	// Lock does not depend on it: retention is checked on every delete.
	env := []string{"MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_SCANNER_SPEED=slowest"}
	return m.daemon().start(m.binary(), []string{"server", data, "--quiet",
		"--address", m.endpoint(), "--console-address", fmt.Sprintf("127.0.0.1:%d", m.port+1)},
		env, 60*time.Second, m.healthy)
}

// ensureBucket creates the archive bucket with Object Lock enabled. A server
// answers its liveness check before its drive is initialised, and refuses
// requests until then: those are retried for up to a minute.
func ensureBucket(ctx context.Context, c *miniogo.Client) error {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		err := makeBucket(ctx, c)
		if miniogo.ToErrorResponse(err).Code != "XMinioServerNotInitialized" || time.Now().After(deadline) {
			return err
		}
	}
}

func makeBucket(ctx context.Context, c *miniogo.Client) error {
	exists, err := c.BucketExists(ctx, mainBucket)
	if err != nil || exists {
		return err
	}
	return c.MakeBucket(ctx, mainBucket, miniogo.MakeBucketOptions{ObjectLocking: true})
}

func (m *minio) down() error { return m.daemon().stop(20 * time.Second) }
