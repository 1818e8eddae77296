// Package format is the archive's on-bucket formats, shared by the
// compactor that writes them, the cold tier that reads them and the
// verifier that checks them: the object layout, the Parquet schema and
// codec, manifests, checkpoints and published keys (docs/archive.md).
package format

import (
	"fmt"
	"time"
)

// Object layout in the bucket (docs/archive.md §1). The data keys are Hive
// style so Trino's Hive connector and DuckDB's hive_partitioning read them;
// everything else sits under "_" folders, which both skip (a leading "_"
// marks a hidden path for Hive).
const (
	TablePrefix      = "audit_events/"
	ManifestPrefix   = TablePrefix + "_manifests/"
	CheckpointPrefix = TablePrefix + "_checkpoints/"
	// TreePrefix is the Merkle tree's C2SP tlog-tiles root (docs/integrity.md
	// §7): checkpoint (the newest), tile/…, and checkpoints/<size> (every one).
	TreePrefix = TablePrefix + "_tlog/"
)

// TreeCheckpointKey is where the tree checkpoint of size leaves is kept.
func TreeCheckpointKey(size uint64) string {
	return fmt.Sprintf("%scheckpoints/%020d", TreePrefix, size)
}

// TreeCosignedKey is where the checkpoint of size leaves is kept with its
// witnesses' cosignatures: a new locked version each time more witnesses
// have cosigned it, while TreeCheckpointKey holds the log's note, once.
func TreeCosignedKey(size uint64) string { return TreeCheckpointKey(size) + ".cosigned" }

// TreeLatestKey is tlog-tiles' checkpoint: the newest, each a new locked
// version.
const TreeLatestKey = TreePrefix + "checkpoint"

// PartKey is the object key of part n of day d.
func PartKey(d time.Time, n int) string {
	return fmt.Sprintf("%sevent_date=%s/part-%d.parquet", TablePrefix, d.Format(time.DateOnly), n)
}

// ManifestKey is the key of the manifest written with part n of day d; it
// covers parts 1..n. Its detached signature is at ManifestKey + ".sig".
func ManifestKey(d time.Time, n int) string {
	return fmt.Sprintf("%sevent_date=%s/manifest-%d.json", ManifestPrefix, d.Format(time.DateOnly), n)
}

// CheckpointKey is where the checkpoint of ledger batch seq is stored; the
// zero padding makes the newest the last in key order. Its detached
// signature is at the same key plus ".sig".
func CheckpointKey(seq int64) string { return fmt.Sprintf("%s%020d.json", CheckpointPrefix, seq) }

// PublicKeyKey is where the public half of the signing key with id keyID is
// published (PEM, SubjectPublicKeyInfo).
func PublicKeyKey(keyID string) string { return ManifestPrefix + "keys/" + keyID + ".pem" }

// SignatureKey is where the detached signature of the object at key is.
func SignatureKey(key string) string { return key + ".sig" }
