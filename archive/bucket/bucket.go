// Package bucket is the archive's Object Lock bucket: every object is
// written once, under COMPLIANCE retention, with its SHA-256 for the server
// to check, and read back by key and version.
package bucket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"function/shared/config"
)

// Config is where the bucket is and how to reach it.
type Config struct {
	Endpoint  string // host:port, or a URL with http:// or https://
	AccessKey string
	SecretKey string
	Bucket    string
}

// Configured tells whether the settings name a bucket.
func Configured(c config.Config) bool { return c[config.S3Bucket] != "" }

// FromSettings reads the S3 settings (SPEC §2); every one is required.
func FromSettings(c config.Config) (Config, error) {
	var cfg Config
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{config.S3Endpoint, &cfg.Endpoint}, {config.S3AccessKey, &cfg.AccessKey},
		{config.S3SecretKey, &cfg.SecretKey}, {config.S3Bucket, &cfg.Bucket},
	} {
		v, err := c.Required(s.name)
		if err != nil {
			return Config{}, err
		}
		*s.dst = v
	}
	return cfg, nil
}

// endpoint splits Endpoint into host and whether to use TLS.
func (cfg Config) endpoint() (string, bool) {
	switch {
	case strings.HasPrefix(cfg.Endpoint, "https://"):
		return strings.TrimSuffix(strings.TrimPrefix(cfg.Endpoint, "https://"), "/"), true
	case strings.HasPrefix(cfg.Endpoint, "http://"):
		return strings.TrimSuffix(strings.TrimPrefix(cfg.Endpoint, "http://"), "/"), false
	}
	return cfg.Endpoint, false
}

// Store is an open Object Lock bucket.
type Store struct {
	c      *minio.Client
	bucket string
}

// ErrExists: the key already holds a version, so nothing was written.
var ErrExists = errors.New("object exists")

// Open connects and refuses a bucket without Object Lock.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	host, secure := cfg.endpoint()
	c, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		// Needed to send x-amz-checksum-* with an upload.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("archive endpoint %q: %w", cfg.Endpoint, err)
	}
	lock, _, _, _, err := c.GetObjectLockConfig(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("archive bucket %q: Object Lock configuration unavailable (the bucket must exist with Object Lock enabled): %w", cfg.Bucket, err)
	}
	if lock != "Enabled" {
		return nil, fmt.Errorf("archive bucket %q does not have Object Lock enabled", cfg.Bucket)
	}
	return &Store{c: c, bucket: cfg.Bucket}, nil
}

// Version finds the one stored version of key. Versions hidden behind a
// delete marker count too: writing again would leave a second locked copy.
func (s *Store) Version(ctx context.Context, key string) (minio.ObjectInfo, bool, error) {
	var found []minio.ObjectInfo
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if o.Err != nil {
			return minio.ObjectInfo{}, false, fmt.Errorf("list %s: %w", key, o.Err)
		}
		if o.Key == key && !o.IsDeleteMarker {
			found = append(found, o)
		}
	}
	switch len(found) {
	case 0:
		return minio.ObjectInfo{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return minio.ObjectInfo{}, false, fmt.Errorf("%s has %d stored versions; an archive object has exactly one", key, len(found))
}

// PutLocked writes key once, locked in COMPLIANCE mode until `until`. The
// server checks sum (SHA-256 of the body) and refuses the write if any
// version of key exists (If-None-Match: *), returning ErrExists.
func (s *Store) PutLocked(ctx context.Context, key string, body io.Reader, size int64, sum []byte, contentType string, until time.Time) (string, error) {
	opts := minio.PutObjectOptions{
		ContentType:     contentType,
		Mode:            minio.Compliance,
		RetainUntilDate: until,
		// One PUT: the conditional header and the checksum cover the whole object.
		DisableMultipart: true,
		UserMetadata:     map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum)},
	}
	opts.SetMatchETagExcept("*")
	info, err := s.c.PutObject(ctx, s.bucket, key, body, size, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "PreconditionFailed" {
			return "", ErrExists
		}
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	if info.VersionID == "" {
		return "", fmt.Errorf("put %s: no version id: is the bucket versioned?", key)
	}
	return info.VersionID, nil
}

// PutBytes is PutLocked for a small in-memory object; an existing object
// with exactly these bytes is accepted (a retry after a crash).
func (s *Store) PutBytes(ctx context.Context, key string, body []byte, contentType string, until time.Time) (string, error) {
	sum := sha256.Sum256(body)
	v, err := s.PutLocked(ctx, key, bytes.NewReader(body), int64(len(body)), sum[:], contentType, until)
	if !errors.Is(err, ErrExists) {
		return v, err
	}
	info, ok, err := s.Version(ctx, key)
	if err != nil || !ok {
		return "", fmt.Errorf("%s: conditional put refused but no version found: %v", key, err)
	}
	stored, err := s.GetBytes(ctx, key, info.VersionID)
	if err != nil {
		return "", err
	}
	if string(stored) != string(body) {
		return "", fmt.Errorf("%s exists with other content; archive objects are never overwritten", key)
	}
	return info.VersionID, nil
}

// PutVersion writes a new version of key, locked in COMPLIANCE mode until
// `until`: for the one object that is rewritten (the tree's newest
// checkpoint), whose every version is kept.
func (s *Store) PutVersion(ctx context.Context, key string, body []byte, contentType string, until time.Time) error {
	sum := sha256.Sum256(body)
	_, err := s.c.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
		ContentType: contentType, Mode: minio.Compliance, RetainUntilDate: until, DisableMultipart: true,
		UserMetadata: map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum[:])},
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get streams one version of key to w and returns its size and SHA-256.
func (s *Store) Get(ctx context.Context, key, versionID string, w io.Writer) (int64, []byte, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), obj)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", key, err)
	}
	return n, h.Sum(nil), nil
}

// maxSmallObject bounds what GetBytes reads (manifests, signatures, keys).
const maxSmallObject = 16 << 20

// GetBytes reads one version ("": the current one) of a small object.
func (s *Store) GetBytes(ctx context.Context, key, versionID string) ([]byte, error) {
	var b limitedBuffer
	if _, _, err := s.Get(ctx, key, versionID, &b); err != nil {
		return nil, err
	}
	return b.buf, nil
}

// ExtendRetention makes sure a version is locked until at least `until`.
// COMPLIANCE retention can be extended, never shortened.
func (s *Store) ExtendRetention(ctx context.Context, key, versionID string, until time.Time) error {
	mode, current, err := s.c.GetObjectRetention(ctx, s.bucket, key, versionID)
	if err != nil {
		return fmt.Errorf("retention of %s: %w", key, err)
	}
	if mode != nil && *mode == minio.Compliance && current != nil && !current.Before(until) {
		return nil
	}
	m := minio.Compliance
	return s.c.PutObjectRetention(ctx, s.bucket, key, minio.PutObjectRetentionOptions{
		Mode: &m, RetainUntilDate: &until, VersionID: versionID})
}

// limitedBuffer collects at most maxSmallObject bytes.
type limitedBuffer struct{ buf []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.buf)+len(p) > maxSmallObject {
		return 0, errors.New("object larger than expected")
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// Object is one listed object: its key and current version, and the
// version's ETag (the MD5 of a single-part upload's content).
type Object struct {
	Key, VersionID, ETag string
}

// List lists the current objects under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, o.Err)
		}
		if o.IsLatest && !o.IsDeleteMarker {
			out = append(out, Object{Key: o.Key, VersionID: o.VersionID, ETag: o.ETag})
		}
	}
	return out, nil
}

// Versions lists every stored version under prefix (delete markers left
// out), in key order: a locked object can still gain versions, which a
// listing of the current ones hides.
func (s *Store) Versions(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, o.Err)
		}
		if !o.IsDeleteMarker {
			out = append(out, Object{Key: o.Key, VersionID: o.VersionID, ETag: o.ETag})
		}
	}
	return out, nil
}

// OpenObject opens one version ("": the current one) of key for reading at
// offsets, each read a ranged request: for reading a Parquet footer
// without the whole object.
func (s *Store) OpenObject(ctx context.Context, key, versionID string) (*minio.Object, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return obj, nil
}

// SetLegalHold turns the S3 legal hold of one version on or off. While it
// is on, not even an expired retention lets the version be deleted.
func (s *Store) SetLegalHold(ctx context.Context, key, versionID string, on bool) error {
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	if err := s.c.PutObjectLegalHold(ctx, s.bucket, key, minio.PutObjectLegalHoldOptions{VersionID: versionID, Status: &status}); err != nil {
		return fmt.Errorf("legal hold %s on %s: %w", status, key, err)
	}
	return nil
}

// LegalHold tells whether one version is under legal hold.
func (s *Store) LegalHold(ctx context.Context, key, versionID string) (bool, error) {
	status, err := s.c.GetObjectLegalHold(ctx, s.bucket, key, minio.GetObjectLegalHoldOptions{VersionID: versionID})
	if minio.ToErrorResponse(err).Code == "NoSuchObjectLockConfiguration" {
		return false, nil // never set
	}
	if err != nil {
		return false, fmt.Errorf("legal hold of %s: %w", key, err)
	}
	return status != nil && *status == minio.LegalHoldEnabled, nil
}
