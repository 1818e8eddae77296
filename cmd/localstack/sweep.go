package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	miniogo "github.com/minio/minio-go/v7"
)

// Tests make their buckets under this prefix (test/testenv.NewBucket) and
// lock objects for the 1-day minimum, so those buckets cannot be removed
// when the test ends: they pile up on a machine that keeps .local/ (by the
// hundred, each walked by MinIO's background scanner). `make up` removes
// those two days old or more.
const (
	testBucketPrefix = "t-"
	testBucketMinAge = 48 * time.Hour
)

// sweepBuckets removes the buckets named with prefix, at least minAge old,
// that hold nothing still locked. A bucket with an object still locked
// stays (objects listed before it may be gone), and the sweep stops after
// budget so `make up` stays quick: what is left goes next time. It reports
// how many buckets it removed.
func sweepBuckets(ctx context.Context, c *miniogo.Client, prefix string, minAge, budget time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		slog.Warn("sweep test buckets", "err", err)
		return 0
	}
	removed := 0
	for _, b := range buckets {
		if !strings.HasPrefix(b.Name, prefix) || time.Since(b.CreationDate) < minAge {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if emptyBucket(ctx, c, b.Name) && c.RemoveBucket(ctx, b.Name) == nil {
			removed++
		}
	}
	return removed
}

// emptyBucket removes every version of every object, and reports whether
// none is left; it stops at the first the server refuses (still locked).
func emptyBucket(ctx context.Context, c *miniogo.Client, bucket string) bool {
	ctx, cancel := context.WithCancel(ctx) // stops the listing if we return early
	defer cancel()
	for o := range c.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return false
		}
		if err := c.RemoveObject(ctx, bucket, o.Key, miniogo.RemoveObjectOptions{VersionID: o.VersionID}); err != nil {
			return false
		}
	}
	return true
}
