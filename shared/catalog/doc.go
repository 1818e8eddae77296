// Package catalog is the workflow catalog: action types and remediation
// workflows loaded from Kubernaut-shaped YAML documents, their content hashes
// and ids, and the matching and scoring rules of SPEC §3.2.
package catalog
