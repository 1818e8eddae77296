// Package infra holds auditfn's Kubernetes deployment: Knative Services for
// the seven functions, Knative Eventing (Broker, Triggers, sources), RBAC,
// the block-clearance admission webhook, the Gateway API HTTPRoute and the
// setup Jobs, applied with `kubectl apply -k infra/` (see README.md).
//
// It has no Go code of its own: manifests_test.go parses every manifest and
// cross-checks it against the Go sources of truth (function.Names,
// shared/routes.Table, shared/auditevent.Types, shared/pgdb, go.mod).
package infra
