// Package archive compacts cold day partitions of audit.audit_events to
// Parquet in MinIO under Object Lock, with signed manifests, and drops a hot
// partition only after its archive is read back and verified.
package archive

import (
	_ "github.com/apache/arrow-go/v18/parquet/pqarrow" // Parquet writing and reading
	_ "github.com/minio/minio-go/v7"                   // the locked object store
)
