// Command localstack starts and stops the local dependencies of auditfn: a
// throwaway PostgreSQL cluster, a single-drive MinIO and a Kubernetes
// control plane (etcd and kube-apiserver), all under .local/.
// `make up`, `make run` and `make test` use it; it writes the settings the
// functions and tests need to .local/stack.env.
//
//	localstack up     start (or reuse) PostgreSQL, MinIO and the control plane, migrate,
//	                  install the CRDs, write stack.env and kubeconfig
//	localstack down   stop them all
//	localstack env    print stack.env
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"function/archive"
	"function/shared/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: localstack up|down|env")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := newStack()
	if err == nil {
		switch os.Args[1] {
		case "up":
			err = s.up(ctx)
		case "down":
			err = s.down(ctx)
		case "env":
			var b []byte
			b, err = os.ReadFile(s.envFile())
			os.Stdout.Write(b)
		default:
			err = fmt.Errorf("unknown command %q", os.Args[1])
		}
	}
	if err != nil {
		slog.Error("localstack "+os.Args[1], "err", err)
		os.Exit(1)
	}
}

// stack knows where everything lives.
type stack struct {
	root  string // repository root
	local string // root/.local
	pg    *postgres
	minio *minio
	kube  *kube
}

func newStack() (*stack, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("run from the repository root: %w", err)
	}
	local := filepath.Join(root, ".local")
	if err := os.MkdirAll(local, 0o755); err != nil {
		return nil, err
	}
	settings, err := config.FromEnvironment()
	if err != nil {
		return nil, err
	}
	pg, err := newPostgres(local, port(settings, "AUDITFN_LOCAL_PG_PORT", 55432))
	if err != nil {
		return nil, err
	}
	return &stack{
		root:  root,
		local: local,
		pg:    pg,
		minio: newMinio(local, port(settings, "AUDITFN_LOCAL_S3_PORT", 59000)),
		kube: newKube(root, local, port(settings, "AUDITFN_LOCAL_ETCD_PORT", 52379),
			port(settings, "AUDITFN_LOCAL_KUBE_PORT", 56443)),
	}, nil
}

func (s *stack) envFile() string { return filepath.Join(s.local, "stack.env") }

func (s *stack) up(ctx context.Context) error {
	if err := s.pg.up(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := s.minio.up(ctx); err != nil {
		return fmt.Errorf("minio: %w", err)
	}
	if err := s.kube.up(ctx); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	tokens, err := s.queryTokens()
	if err != nil {
		return err
	}
	signingKey, err := s.signingKey()
	if err != nil {
		return err
	}
	eventKeys, err := s.eventKeys()
	if err != nil {
		return err
	}
	env := fmt.Sprintf(`AUDITFN_ARCHIVE_SIGNING_KEY=%s
AUDITFN_EVENT_KEYS_FILE=%s
AUDITFN_QUERY_TOKENS_FILE=%s
AUDITFN_PG_DSN=%s
AUDITFN_PG_ADMIN_DSN=%s
AUDITFN_S3_ENDPOINT=%s
AUDITFN_S3_ACCESS_KEY=%s
AUDITFN_S3_SECRET_KEY=%s
AUDITFN_S3_BUCKET=%s
%s`, signingKey, eventKeys, tokens, s.pg.dsn(appRole, mainDB), s.pg.dsn(adminRole, mainDB), s.minio.endpoint(), minioUser, minioPassword, mainBucket,
		s.kube.env())
	if err := os.WriteFile(s.envFile(), []byte(env), 0o644); err != nil {
		return err
	}
	fmt.Print(env)
	return nil
}

// queryTokens makes (once) the local bearer-token file of the query API,
// with one random auditor token.
func (s *stack) queryTokens() (string, error) {
	path := filepath.Join(s.local, "query-tokens")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	line := fmt.Sprintf("# TOKEN NAME: bearer tokens of the local query API\n%s local-auditor\n", hex.EncodeToString(b))
	return path, os.WriteFile(path, []byte(line), 0o600)
}

// eventKeys makes (once) the local key with which the functions sign their
// audit events and the collector checks them (shared/eventauth).
func (s *stack) eventKeys() (string, error) {
	path := filepath.Join(s.local, "event-keys")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	line := fmt.Sprintf("# audit event signing keys, one per line; the first signs\n%s\n", hex.EncodeToString(b))
	return path, os.WriteFile(path, []byte(line), 0o600)
}

// signingKey makes (once) the local ed25519 key that signs archive manifests
// and tree checkpoints, and writes its public half beside it, for `make
// verify BUNDLE=…`.
func (s *stack) signingKey() (string, error) {
	path := filepath.Join(s.local, "archive", "signing.key")
	if _, err := os.Stat(path); err != nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		if err := archive.GenerateSigningKey(path); err != nil {
			return "", err
		}
	}
	signer, err := archive.LoadSigner(path)
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(filepath.Join(s.local, "archive", "public.pem"), signer.PublicPEM, 0o644)
}

func (s *stack) down(ctx context.Context) error {
	return errors.Join(s.pg.down(ctx), s.minio.down(), s.kube.down())
}

// port is setting name, def when it is unset or not a positive number.
func port(settings config.Config, name string, def int) int {
	var v int
	if _, err := fmt.Sscanf(settings[name], "%d", &v); err == nil && v > 0 {
		return v
	}
	return def
}
