// Package migrations holds the SQL migrations of auditfn's PostgreSQL schemas,
// embedded so every binary applies exactly the files in the repository.
package migrations

import "embed"

// FS holds the tern migrations, applied in file-name order.
//
//go:embed *.sql
var FS embed.FS
