// Package catalog is the workflow catalog: action types and remediation
// workflows loaded from Kubernaut-shaped YAML documents, their content hashes
// and ids, and the matching and scoring rules of SPEC §3.2.
package catalog

import (
	_ "github.com/santhosh-tekuri/jsonschema/v6" // parameter schemas (validate function)
	_ "sigs.k8s.io/yaml"                         // catalog documents and manifests
)
