package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/bucket"
	"function/archive/format"
	"function/shared/config"
	"function/test/testenv"
)

func objectSum(t *testing.T, c *minio.Client, bucket, key, version string) [32]byte {
	t.Helper()
	o, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{VersionID: version})
	require.NoError(t, err)
	defer o.Close()
	b, err := io.ReadAll(o)
	require.NoError(t, err, key)
	return sha256.Sum256(b)
}

func TestArchivedObjectsCannotBeDeletedOverwrittenOrUnlockedEarly(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	d := archivetest.DaysAgo(12)
	e.Seed(t, d, 40)
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)

	c := e.Bucket.Client(t)
	keys := e.Keys(t, "audit_events/")
	require.Len(t, keys, 6, "part, manifest, its signature, public key, head checkpoint, its signature")
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			st, err := c.StatObject(ctx, e.Bucket.Name, key, minio.StatObjectOptions{})
			require.NoError(t, err)
			v := st.VersionID
			before := objectSum(t, c, e.Bucket.Name, key, v)

			err = c.RemoveObject(ctx, e.Bucket.Name, key, minio.RemoveObjectOptions{VersionID: v})
			assert.Error(t, err, "deleting the locked version")
			err = c.RemoveObject(ctx, e.Bucket.Name, key, minio.RemoveObjectOptions{VersionID: v, GovernanceBypass: true})
			assert.Error(t, err, "deleting it with a governance bypass")

			opts := minio.PutObjectOptions{}
			opts.SetMatchETagExcept("*")
			_, err = c.PutObject(ctx, e.Bucket.Name, key, bytes.NewReader([]byte("forged")), 6, opts)
			assert.Error(t, err, "a conditional overwrite, as the compactor writes")

			sooner := time.Now().Add(2 * time.Hour)
			compliance, governance := minio.Compliance, minio.Governance
			err = c.PutObjectRetention(ctx, e.Bucket.Name, key, minio.PutObjectRetentionOptions{Mode: &compliance, RetainUntilDate: &sooner, VersionID: v})
			assert.Error(t, err, "shortening the retention")
			later := time.Now().Add(72 * time.Hour)
			err = c.PutObjectRetention(ctx, e.Bucket.Name, key, minio.PutObjectRetentionOptions{Mode: &governance, RetainUntilDate: &later, VersionID: v})
			assert.Error(t, err, "switching to GOVERNANCE mode")

			// What S3 does allow changes nothing archived: a plain PUT adds a
			// version and a delete adds a marker; the locked version stays.
			_, err = c.PutObject(ctx, e.Bucket.Name, key, bytes.NewReader([]byte("forged")), 6, minio.PutObjectOptions{})
			require.NoError(t, err)
			require.NoError(t, c.RemoveObject(ctx, e.Bucket.Name, key, minio.RemoveObjectOptions{}))
			assert.Equal(t, before, objectSum(t, c, e.Bucket.Name, key, v), "the archived version is intact")
			mode, until, err := c.GetObjectRetention(ctx, e.Bucket.Name, key, v)
			require.NoError(t, err)
			assert.Equal(t, minio.Compliance, *mode)
			assert.True(t, until.After(time.Now().Add(23*time.Hour)), "still locked until %s", until)
		})
	}
}

// The one test with production retention: objects of a day are locked in
// COMPLIANCE mode until the event date plus AUDITFN_RETENTION_DAYS.
func TestObjectsAreLockedInComplianceModeUntilEventDatePlusRetention(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	d := archivetest.DaysAgo(10)
	e.Seed(t, d, 5)
	settings := e.Settings() // AUDITFN_RETENTION_DAYS=90, the production minimum
	cfg, err := archive.ConfigFromSettings(config.Config(settings))
	require.NoError(t, err)
	require.Equal(t, 90, cfg.RetentionDays)
	c, err := archive.New(ctx, e.Pool, cfg, archive.Options{TempDir: t.TempDir()})
	require.NoError(t, err)
	_, err = c.Run(ctx)
	require.NoError(t, err)

	client := e.Bucket.Client(t)
	want := d.AddDate(0, 0, 90)
	for _, key := range []string{format.PartKey(d, 1), format.ManifestKey(d, 1), format.ManifestKey(d, 1) + ".sig"} {
		mode, until, err := client.GetObjectRetention(ctx, e.Bucket.Name, key, "")
		require.NoError(t, err, key)
		assert.Equal(t, minio.Compliance, *mode, key)
		assert.True(t, want.Equal(*until), "%s locked until %s, want %s", key, until, want)
	}
	keys := e.Keys(t, "audit_events/_manifests/keys/")
	require.Len(t, keys, 1)
	mode, until, err := client.GetObjectRetention(ctx, e.Bucket.Name, keys[0], "")
	require.NoError(t, err)
	assert.Equal(t, minio.Compliance, *mode)
	assert.False(t, until.Before(want), "the public key is kept as long as the manifests it verifies")
}

func TestStartUpRefusesABucketWithoutObjectLock(t *testing.T) {
	e := archivetest.New(t)
	plain := testenv.NewPlainBucket(t)
	cfg := e.Config()
	cfg.Bucket.Bucket = plain.Name
	_, err := archive.New(context.Background(), e.Pool, cfg, archive.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), plain.Name)
	assert.Contains(t, err.Error(), "Object Lock")

	cfg.Bucket.Bucket = plain.Name + "-missing"
	_, err = archive.New(context.Background(), e.Pool, cfg, archive.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), cfg.Bucket.Bucket)
}

func TestSettings(t *testing.T) {
	full := config.Config{"AUDITFN_S3_ENDPOINT": "minio:9000", "AUDITFN_S3_ACCESS_KEY": "a", "AUDITFN_S3_SECRET_KEY": "s",
		"AUDITFN_S3_BUCKET": "b", "AUDITFN_ARCHIVE_SIGNING_KEY": "/keys/archive.pem"}
	cfg, err := archive.ConfigFromSettings(full)
	require.NoError(t, err)
	assert.Equal(t, archive.Config{Bucket: bucket.Config{Endpoint: "minio:9000", AccessKey: "a", SecretKey: "s", Bucket: "b"},
		SigningKeyPath: "/keys/archive.pem", HotDays: 7, RetentionDays: 365, Origin: "auditfn.local/b"}, cfg)

	for name := range full {
		partial := config.Config{}
		for k, v := range full {
			if k != name {
				partial[k] = v
			}
		}
		_, err := archive.ConfigFromSettings(partial)
		require.Error(t, err)
		assert.Contains(t, err.Error(), name)
	}
	for v, ok := range map[string]bool{"89": false, "90": true, "3650": true, "0": false, "x": false} {
		s := config.Config{"AUDITFN_RETENTION_DAYS": v}
		for k, x := range full {
			s[k] = x
		}
		_, err := archive.ConfigFromSettings(s)
		assert.Equal(t, ok, err == nil, "AUDITFN_RETENTION_DAYS=%s: %v", v, err)
	}
	// The production minimum holds for a Config built in code too.
	_, err = archive.New(context.Background(), (*pgxpool.Pool)(nil), archive.Config{HotDays: 7, RetentionDays: 1}, archive.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AUDITFN_RETENTION_DAYS")
}
