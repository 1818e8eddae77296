package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
		m.stopStale()
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

// pid is the recorded server pid, if that process still runs.
func (m *minio) pid() (int, bool) {
	b, err := os.ReadFile(m.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

// stopStale stops a recorded server that runs but does not answer.
func (m *minio) stopStale() {
	if pid, ok := m.pid(); ok {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(m.pidFile())
}

func (m *minio) start() error {
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(m.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(m.binary(), "server", data, "--quiet",
		"--address", m.endpoint(), "--console-address", fmt.Sprintf("127.0.0.1:%d", m.port+1))
	// The background scanner (lifecycle, healing, usage figures) has nothing
	// to do for a throwaway single drive, yet walked every test bucket: with
	// hundreds of them it took 7-15% of a core from the benchmarks. Object
	// Lock does not depend on it: retention is checked on every delete.
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_SCANNER_SPEED=slowest")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(m.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	_ = cmd.Process.Release()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if m.healthy() {
			return nil
		}
	}
	return fmt.Errorf("MinIO did not become healthy in 60s; see %s", filepath.Join(m.dir, "server.log"))
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

func (m *minio) down() error {
	pid, ok := m.pid()
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			_ = os.Remove(m.pidFile())
			return nil
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(m.pidFile())
	return errors.New("MinIO did not stop on SIGTERM; killed")
}
