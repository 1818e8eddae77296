// Package catalog holds the sample workflow catalog (SPEC §3.1): the ten V1.0
// action types and workflows that exercise every matching and scoring rule,
// embedded so every binary loads exactly the files in the repository.
package catalog

import "embed"

// FS holds the catalog documents, for shared/catalog.LoadDir.
//
//go:embed *.yaml
var FS embed.FS
