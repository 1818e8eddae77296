package archive

import (
	"fmt"
	"time"
)

// Object layout in the bucket (docs/archive.md §1). The data keys are Hive
// style so Trino's Hive connector and DuckDB's hive_partitioning read them;
// everything else sits under "_manifests", which both skip (a leading "_"
// marks a hidden path for Hive).
const (
	tablePrefix    = "audit_events/"
	manifestPrefix = tablePrefix + "_manifests/"
)

// PartKey is the object key of part n of day d.
func PartKey(d time.Time, n int) string {
	return fmt.Sprintf("%sevent_date=%s/part-%d.parquet", tablePrefix, d.Format(time.DateOnly), n)
}

// ManifestKey is the key of the manifest written with part n of day d; it
// covers parts 1..n. Its detached signature is at ManifestKey + ".sig".
func ManifestKey(d time.Time, n int) string {
	return fmt.Sprintf("%sevent_date=%s/manifest-%d.json", manifestPrefix, d.Format(time.DateOnly), n)
}

// PublicKeyKey is where the public half of the signing key with id keyID is
// published (PEM, SubjectPublicKeyInfo).
func PublicKeyKey(keyID string) string { return manifestPrefix + "keys/" + keyID + ".pem" }

// minLock is the shortest Object Lock an object gets, for late events of a
// day whose retention has already run out when they are archived.
const minLock = 24 * time.Hour

// retainUntil is when an object of day d may be deleted: the end of its
// retention, but never less than minLock from now.
func retainUntil(d time.Time, retentionDays int, now time.Time) time.Time {
	until := d.AddDate(0, 0, retentionDays)
	if floor := now.Add(minLock).Truncate(time.Second).Add(time.Second); until.Before(floor) {
		return floor.UTC()
	}
	return until.UTC()
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
