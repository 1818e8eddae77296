package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is a bucket of the local MinIO made for one test.
type Bucket struct {
	Name      string
	Endpoint  string
	AccessKey string
	SecretKey string
}

// NewBucket creates a fresh bucket with Object Lock enabled. MinIO enforces
// COMPLIANCE retention even on a single drive, so a bucket holding locked
// objects can never be deleted: it is left behind, and tests lock their
// objects for the 1-day minimum.
func NewBucket(t testing.TB) Bucket {
	t.Helper()
	return newBucket(t, true)
}

// NewPlainBucket creates a fresh bucket without Object Lock, removed when the
// test ends.
func NewPlainBucket(t testing.TB) Bucket {
	t.Helper()
	b := newBucket(t, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := b.Client(t)
		for o := range c.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Recursive: true}) {
			_ = c.RemoveObject(ctx, b.Name, o.Key, minio.RemoveObjectOptions{})
		}
		if err := c.RemoveBucket(ctx, b.Name); err != nil {
			t.Errorf("remove bucket %s: %v", b.Name, err)
		}
	})
	return b
}

func newBucket(t testing.TB, locked bool) Bucket {
	env := Env(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	// `make up` sweeps old "t-" buckets once their locks have run out.
	b := Bucket{Name: "t-" + hex.EncodeToString(suffix), Endpoint: env["AUDITFN_S3_ENDPOINT"],
		AccessKey: env["AUDITFN_S3_ACCESS_KEY"], SecretKey: env["AUDITFN_S3_SECRET_KEY"]}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Client(t).MakeBucket(ctx, b.Name, minio.MakeBucketOptions{ObjectLocking: locked}); err != nil {
		t.Fatalf("create bucket %s on local MinIO (run `make up`): %v", b.Name, err)
	}
	return b
}

// Client is a MinIO client with the stack's credentials.
func (b Bucket) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(b.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(b.AccessKey, b.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Settings are the AUDITFN_S3_* settings that name this bucket.
func (b Bucket) Settings() map[string]string {
	return map[string]string{"AUDITFN_S3_ENDPOINT": b.Endpoint, "AUDITFN_S3_ACCESS_KEY": b.AccessKey,
		"AUDITFN_S3_SECRET_KEY": b.SecretKey, "AUDITFN_S3_BUCKET": b.Name}
}
