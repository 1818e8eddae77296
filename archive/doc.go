// Package archive compacts cold day partitions of audit.audit_events to
// Parquet in MinIO under Object Lock, with signed manifests, and drops a hot
// partition only after its archive is read back and verified.
//
// docs/archive.md describes the layout, the manifest format and the state
// machine; infra/migrations/003_archive.sql holds the state table and the
// drop function.
package archive
