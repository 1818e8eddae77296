package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// store is the Object Lock bucket. Every object is written once, under
// COMPLIANCE retention, with its SHA-256 for the server to check.
type store struct {
	c      *minio.Client
	bucket string
}

// errExists: the key already holds a version, so nothing was written.
var errExists = errors.New("object exists")

// openStore connects and refuses a bucket without Object Lock.
func openStore(ctx context.Context, cfg Config) (*store, error) {
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
	return &store{c: c, bucket: cfg.Bucket}, nil
}

// version finds the one stored version of key. Versions hidden behind a
// delete marker count too: writing again would leave a second locked copy.
func (s *store) version(ctx context.Context, key string) (minio.ObjectInfo, bool, error) {
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

// putLocked writes key once, locked in COMPLIANCE mode until `until`. The
// server checks sum (SHA-256 of the body) and refuses the write if any
// version of key exists (If-None-Match: *), returning errExists.
func (s *store) putLocked(ctx context.Context, key string, body io.Reader, size int64, sum []byte, contentType string, until time.Time) (string, error) {
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
			return "", errExists
		}
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	if info.VersionID == "" {
		return "", fmt.Errorf("put %s: no version id: is the bucket versioned?", key)
	}
	return info.VersionID, nil
}

// putBytes is putLocked for a small in-memory object; an existing object
// with exactly these bytes is accepted (a retry after a crash).
func (s *store) putBytes(ctx context.Context, key string, body []byte, contentType string, until time.Time) (string, error) {
	sum := sha256.Sum256(body)
	v, err := s.putLocked(ctx, key, bytes.NewReader(body), int64(len(body)), sum[:], contentType, until)
	if !errors.Is(err, errExists) {
		return v, err
	}
	info, ok, err := s.version(ctx, key)
	if err != nil || !ok {
		return "", fmt.Errorf("%s: conditional put refused but no version found: %v", key, err)
	}
	stored, err := s.getBytes(ctx, key, info.VersionID)
	if err != nil {
		return "", err
	}
	if string(stored) != string(body) {
		return "", fmt.Errorf("%s exists with other content; archive objects are never overwritten", key)
	}
	return info.VersionID, nil
}

// get streams one version of key to w and returns its size and SHA-256.
func (s *store) get(ctx context.Context, key, versionID string, w io.Writer) (int64, []byte, error) {
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

// maxSmallObject bounds what getBytes reads (manifests, signatures, keys).
const maxSmallObject = 16 << 20

// seqRange reads, from a part's Parquet footer alone, the lowest and highest
// ledger_seq of its rows (the whole int64 range if a row group has no
// statistics).
func (s *store) seqRange(ctx context.Context, key, versionID string) (first, last int64, err error) {
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return 0, 0, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Close()
	pf, err := file.NewParquetReader(obj)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: not a Parquet file: %w", key, err)
	}
	defer pf.Close()
	first, last = math.MaxInt64, math.MinInt64
	md := pf.MetaData()
	for i := range md.NumRowGroups() {
		cc, err := md.RowGroup(i).ColumnChunk(colLedgerSeq)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		st, err := cc.Statistics()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		seqs, ok := st.(*metadata.Int64Statistics)
		if !ok || !seqs.HasMinMax() {
			return math.MinInt64, math.MaxInt64, nil
		}
		first, last = min(first, seqs.Min()), max(last, seqs.Max())
	}
	return first, last, nil
}

func (s *store) getBytes(ctx context.Context, key, versionID string) ([]byte, error) {
	var b limitedBuffer
	if _, _, err := s.get(ctx, key, versionID, &b); err != nil {
		return nil, err
	}
	return b.buf, nil
}

// extendRetention makes sure a version is locked until at least `until`.
// COMPLIANCE retention can be extended, never shortened.
func (s *store) extendRetention(ctx context.Context, key, versionID string, until time.Time) error {
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
