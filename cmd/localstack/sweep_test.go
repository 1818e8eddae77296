package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/test/testenv"
)

// The sweep removes a bucket whose objects can go, versions and all, and
// keeps a bucket holding an object still under COMPLIANCE retention.
func TestSweepRemovesOnlyWhatNothingLocks(t *testing.T) {
	ctx := context.Background()
	c := testenv.NewPlainBucket(t).Client(t) // a client on the local MinIO
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	prefix := "sweep-" + hex.EncodeToString(suffix) + "-"
	free, locked := prefix+"free", prefix+"locked"
	for _, b := range []string{free, locked} {
		require.NoError(t, c.MakeBucket(ctx, b, miniogo.MakeBucketOptions{ObjectLocking: true}))
	}
	put := func(bucket, key string, opts miniogo.PutObjectOptions) {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader([]byte("x")), 1, opts)
		require.NoError(t, err)
	}
	put(free, "a", miniogo.PutObjectOptions{})
	put(free, "a", miniogo.PutObjectOptions{}) // a second version
	put(locked, "a", miniogo.PutObjectOptions{})
	put(locked, "b", miniogo.PutObjectOptions{Mode: miniogo.Compliance, RetainUntilDate: time.Now().Add(24 * time.Hour)})

	// Not old enough yet: nothing happens.
	assert.Zero(t, sweepBuckets(ctx, c, prefix, time.Hour, 30*time.Second))
	assert.Equal(t, 1, sweepBuckets(ctx, c, prefix, 0, 30*time.Second))
	exists, err := c.BucketExists(ctx, free)
	require.NoError(t, err)
	assert.False(t, exists, "every version removed, then the bucket")
	exists, err = c.BucketExists(ctx, locked)
	require.NoError(t, err)
	assert.True(t, exists, "a locked object keeps its bucket")
}
