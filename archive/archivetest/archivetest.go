// Package archivetest sets up real archives for tests and benchmarks: a
// migrated database, a fresh Object Lock bucket, a signing key, and events
// of past days written the way the collector writes them.
package archivetest

import (
	"bytes"
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"function/archive"
	"function/archive/bucket"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/test/loadgen"
	"function/test/testenv"
)

// Env is one test's database, bucket and signing key.
type Env struct {
	DB      testenv.DB
	Bucket  testenv.Bucket
	KeyPath string
	// Pool connects as the application role, as the collector does.
	Pool *pgxpool.Pool
}

// New sets up an Env; everything but the locked bucket goes when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	e := &Env{DB: testenv.NewDB(t), Bucket: testenv.NewBucket(t), KeyPath: filepath.Join(t.TempDir(), "signing.pem")}
	if err := archive.GenerateSigningKey(e.KeyPath); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), e.DB.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.Pool = pool
	return e
}

// Settings are the collector's and cmd/compact's settings for this Env, with
// the production retention minimum.
func (e *Env) Settings() map[string]string {
	s := e.Bucket.Settings()
	s["AUDITFN_PG_DSN"] = e.DB.AppDSN
	s[archive.SettingSigningKey] = e.KeyPath
	s[archive.SettingRetentionDays] = strconv.Itoa(archive.MinRetentionDays)
	return s
}

// Config is the archive configuration for this Env (hot window 7 days).
func (e *Env) Config() archive.Config {
	return archive.Config{Bucket: bucket.Config{Endpoint: e.Bucket.Endpoint, AccessKey: e.Bucket.AccessKey, SecretKey: e.Bucket.SecretKey,
		Bucket: e.Bucket.Name}, SigningKeyPath: e.KeyPath, HotDays: archive.DefaultHotDays, RetentionDays: archive.DefaultRetentionDays,
		Origin: "auditfn.local/" + e.Bucket.Name}
}

// Compactor is a compactor for this Env that locks objects for 1 day unless
// opts says otherwise.
func (e *Env) Compactor(t testing.TB, opts archive.Options) *archive.Compactor {
	t.Helper()
	if opts.TestRetentionDays == 0 {
		opts.TestRetentionDays = 1
	}
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	c, err := archive.New(context.Background(), e.Pool, e.Config(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DaysAgo is the UTC midnight n days before today.
func DaysAgo(n int) time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day()-n, 0, 0, 0, 0, time.UTC)
}

// Seed writes n fixture events spread over day d (five types, one
// correlation id per five events), through the collector's writer in
// batches of up to 5000, and returns them.
func (e *Env) Seed(t testing.TB, d time.Time, n int) []auditevent.Event {
	t.Helper()
	w, err := auditstore.NewWriter(context.Background(), e.Pool, auditstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seq := int(d.Unix()/86400) * 10_000_000 // correlation ids differ per day
	var all []auditevent.Event
	for len(all) < n {
		batch := loadgen.Batch(min(5000, n-len(all)), &seq)
		for i := range batch {
			k := len(all) + i
			batch[i].Time = auditevent.Truncate(d.Add(time.Duration(k%86_000)*time.Second + time.Duration(k)*time.Microsecond))
		}
		if _, err := w.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}
	return all
}

// HotRecords are day d's rows in PostgreSQL, in archive order.
func (e *Env) HotRecords(t testing.TB, d time.Time) []auditevent.Record {
	t.Helper()
	recs, err := auditstore.ReadRecords(context.Background(), e.Pool,
		"WHERE event_date = $1 ORDER BY correlation_id, event_time, ledger_seq, ledger_pos", d)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// ArchivedRecords are the rows of every Parquet object of day d in the
// bucket, read straight from MinIO, parts in order.
func (e *Env) ArchivedRecords(t testing.TB, d time.Time) []auditevent.Record {
	t.Helper()
	ctx := context.Background()
	c := e.Bucket.Client(t)
	var out []auditevent.Record
	keys := e.Keys(t, "audit_events/event_date="+d.Format(time.DateOnly)+"/")
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i]) < len(keys[j]) }) // part-2 before part-10
	for _, key := range keys {
		obj, err := c.GetObject(ctx, e.Bucket.Name, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(obj); err != nil {
			t.Fatal(err)
		}
		obj.Close()
		if err := format.ReadParquet(ctx, bytes.NewReader(buf.Bytes()), func(r *auditevent.Record) error {
			out = append(out, *r)
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	return out
}

// Keys lists the object keys under prefix, sorted.
func (e *Env) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range e.Bucket.Client(t).ListObjects(context.Background(), e.Bucket.Name, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

// Count is the number of rows of day d in PostgreSQL.
func (e *Env) Count(t testing.TB, d time.Time) int64 {
	t.Helper()
	return e.DB.Count(t, "audit.audit_events WHERE event_date = $1", d)
}

// PartitionExists tells whether day d has a partition.
func (e *Env) PartitionExists(t testing.TB, d time.Time) bool {
	t.Helper()
	return e.DB.Scalar(t, "SELECT to_regclass($1) IS NOT NULL", "audit.audit_events_"+d.Format("20060102")).(bool)
}

// Parquet encodes recs, in the order given, as an archive part file.
func Parquet(t testing.TB, recs []auditevent.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := format.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
