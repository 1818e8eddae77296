// Package catalogstore keeps the workflow catalog in PostgreSQL (schema
// catalog) and serves functions an in-memory snapshot of it, swapped
// atomically when the loader signals a change: never a query per request.
package catalogstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/jackc/pgx/v5"

	"function/shared/catalog"
	"function/shared/parallel"
	"function/shared/pgdb"
)

// Channel is the NOTIFY channel the catalog tables signal changes on.
const Channel = "auditfn_catalog"

// Querier is what reads need: a pool, a connection or a transaction.
type Querier = pgdb.Querier

// Load builds a snapshot from the catalog tables.
func Load(ctx context.Context, q Querier) (*catalog.Catalog, error) {
	actionTypes, err := collect[catalog.ActionType](ctx, q, `SELECT document FROM catalog.action_types`)
	if err != nil {
		return nil, fmt.Errorf("read action types: %w", err)
	}
	workflows, err := loadWorkflows(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read workflows: %w", err)
	}
	c, err := catalog.New(actionTypes, workflows)
	if err != nil {
		return nil, fmt.Errorf("catalog in the database is invalid: %w", err)
	}
	return c, nil
}

func collect[T any](ctx context.Context, q Querier, sql string) ([]T, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var doc []byte
		var v T
		if err := r.Scan(&doc); err != nil {
			return v, err
		}
		// The v2 prototype decodes the snapshot over twice as fast as
		// encoding/json, which matters for a scale-from-zero start.
		return v, jsonv2.Unmarshal(doc, &v)
	})
}

// storedWorkflow is a catalog.workflows row as Load reads it.
type storedWorkflow struct {
	name    string
	version string
	status  string
	content []byte
}

// loadWorkflows reads every workflow version, decoding them on all CPUs:
// with the content hashed as stored, decoding is most of a snapshot load,
// and a function that scales from zero is not ready before it is done.
// The rows are put in order here rather than by the query: sorting them in
// a fresh database backend took longer than reading them.
func loadWorkflows(ctx context.Context, q Querier) ([]catalog.Workflow, error) {
	rows, err := q.Query(ctx, `SELECT workflow_name, version, status, content FROM catalog.workflows`)
	if err != nil {
		return nil, err
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedWorkflow, error) {
		var s storedWorkflow
		return s, r.Scan(&s.name, &s.version, &s.status, &s.content)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(stored, func(a, b storedWorkflow) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.version, b.version))
	})
	workflows := make([]catalog.Workflow, len(stored))
	err = parallel.Each(len(stored), func(i int) (err error) {
		if workflows[i], err = catalog.ParseContent(stored[i].content, catalog.Status(stored[i].status)); err != nil {
			return fmt.Errorf("workflow row %d: %w", i+1, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return workflows, nil
}

// ErrVersionChanged is returned when a document changes the content of a
// workflow version already in the catalog: published versions are
// immutable, a change needs a new version.
var ErrVersionChanged = errors.New("workflow version already loaded with different content; bump its version")

// version names one workflow version.
type version struct{ name, version string }

// Save stores action types and workflow versions in one transaction: action
// types are upserted by name; a workflow version is inserted, or has its
// status updated when the same content is already there. What the tables
// then hold is validated as a whole, as a function would load it, before
// commit (a *catalog.LoadError names a bad document), and the change is
// signalled to every function's snapshot. Nothing is deleted: a version
// missing from the arguments stays as it is.
func Save(ctx context.Context, conn *pgx.Conn, actionTypes []catalog.ActionType, workflows []catalog.Workflow) error {
	return inTx(ctx, conn, func(tx pgx.Tx, current *catalog.Catalog) error {
		return write(ctx, tx, current, actionTypes, workflows)
	})
}

// Refused is a document Mirror left out, and why.
type Refused struct {
	Document string // e.g. "ActionType RestartPod", "RemediationWorkflow restart-pod 1.0.0"
	Err      error
}

// Mirror makes the catalog follow a source that holds exactly the given
// documents (the cluster's resources): it stores each one that Save would
// take on its own, and disables every stored workflow whose name the
// documents do not have. Nothing is deleted. The documents it cannot store
// come back with why, so one bad document cannot hold back the rest: they
// are checked against the stored catalog one by one (cheap: no rebuild of
// the whole catalog for each), then stored together in one transaction.
func Mirror(ctx context.Context, conn *pgx.Conn, actionTypes []catalog.ActionType, workflows []catalog.Workflow) ([]Refused, error) {
	var refused []Refused
	err := inTx(ctx, conn, func(tx pgx.Tx, current *catalog.Catalog) error {
		names := map[string]bool{}
		for _, w := range workflows {
			names[w.WorkflowName] = true
		}
		all := slices.Clone(workflows)
		for _, w := range current.Workflows() {
			if !names[w.WorkflowName] && w.Status != catalog.StatusDisabled {
				gone := w.Document()
				gone.Status = catalog.StatusDisabled
				all = append(all, gone)
			}
		}
		var ats []catalog.ActionType
		var wfs []catalog.Workflow
		ats, wfs, refused = sift(current, actionTypes, all)
		return write(ctx, tx, current, ats, wfs)
	})
	return refused, err
}

// inTx runs fn in a transaction, with the catalog as stored, and commits.
func inTx(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx, *catalog.Catalog) error) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	// Serialise savers: each merges into what the previous one committed.
	if _, err := tx.Exec(ctx, `LOCK TABLE catalog.workflows IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return err
	}
	current, err := Load(ctx, tx)
	if err != nil {
		return err
	}
	if err := fn(tx, current); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// write stores the documents over current, once the merged catalog is valid.
func write(ctx context.Context, tx pgx.Tx, current *catalog.Catalog, actionTypes []catalog.ActionType, workflows []catalog.Workflow) error {
	merged, kept, stored, err := merge(current, actionTypes, workflows)
	if err != nil {
		return err
	}
	for _, a := range actionTypes {
		doc, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO catalog.action_types (name, document) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET document = EXCLUDED.document, loaded_at = now()
			WHERE catalog.action_types.document IS DISTINCT FROM EXCLUDED.document`, a.Name, doc); err != nil {
			return fmt.Errorf("action type %s: %w", a.Name, err)
		}
	}
	for _, w := range merged.Workflows()[kept:] {
		if id, ok := stored[version{w.WorkflowName, w.Version}]; ok && id != w.WorkflowID {
			return fmt.Errorf("%s %s: %w", w.WorkflowName, w.Version, ErrVersionChanged)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO catalog.workflows
			(workflow_id, workflow_name, version, action_type, status, content_hash, content)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (workflow_id) DO UPDATE SET status = EXCLUDED.status, loaded_at = now()
			WHERE catalog.workflows.status IS DISTINCT FROM EXCLUDED.status`,
			w.WorkflowID, w.WorkflowName, w.Version, w.ActionType, string(w.Status), w.ContentHash, string(w.Content())); err != nil {
			return fmt.Errorf("workflow %s %s: %w", w.WorkflowName, w.Version, err)
		}
	}
	return nil
}

// sift splits documents into those write would take over current on their
// own and the refused. A document is checked alone (with the stored and the
// accepted action types); the only refusals that need other documents, a
// version given twice or changed under its stored id, are checked here.
func sift(current *catalog.Catalog, actionTypes []catalog.ActionType, workflows []catalog.Workflow) ([]catalog.ActionType, []catalog.Workflow, []Refused) {
	var refused []Refused
	var ats []catalog.ActionType
	seen := map[string]bool{}
	for _, a := range actionTypes {
		if _, err := catalog.New([]catalog.ActionType{a}, nil); err != nil || seen[a.Name] {
			refused = append(refused, Refused{"ActionType " + a.Name, cmp.Or(err, errors.New("given twice"))})
			continue
		}
		seen[a.Name] = true
		ats = append(ats, a)
	}
	known := withActionTypes(current, ats)
	ids := map[version][16]byte{}
	for _, w := range current.Workflows() {
		ids[version{w.WorkflowName, w.Version}] = w.WorkflowID
	}
	taken := map[version]bool{}
	var wfs []catalog.Workflow
	for _, w := range workflows {
		v := version{w.WorkflowName, w.Version}
		name := "RemediationWorkflow " + w.WorkflowName + " " + w.Version
		alone, err := catalog.New(known, []catalog.Workflow{w})
		switch {
		case err != nil:
			refused = append(refused, Refused{name, err})
			continue
		case taken[v]:
			refused = append(refused, Refused{name, errors.New("version given twice")})
			continue
		}
		if id, ok := ids[v]; ok && id != alone.Workflows()[0].WorkflowID {
			refused = append(refused, Refused{name, ErrVersionChanged})
			continue
		}
		taken[v] = true
		wfs = append(wfs, w)
	}
	return ats, wfs, refused
}

// merge is the catalog the tables will hold: current with the given action
// types (by name) and workflow versions (by name and version) put in. The
// given workflows are its Workflows from index kept on, in order; stored
// holds the ids of the versions they replace.
func merge(current *catalog.Catalog, actionTypes []catalog.ActionType, workflows []catalog.Workflow) (c *catalog.Catalog, kept int, stored map[version][16]byte, err error) {
	ats := withActionTypes(current, actionTypes)
	replaced := map[version]bool{}
	for _, w := range workflows {
		replaced[version{w.WorkflowName, w.Version}] = true
	}
	stored = map[version][16]byte{}
	var wfs []catalog.Workflow
	for _, w := range current.Workflows() {
		v := version{w.WorkflowName, w.Version}
		if replaced[v] {
			stored[v] = w.WorkflowID
			continue
		}
		wfs = append(wfs, w)
	}
	kept = len(wfs)
	c, err = catalog.New(ats, append(wfs, workflows...))
	return c, kept, stored, err
}

// withActionTypes is the stored action types with the given ones put in, by
// name.
func withActionTypes(current *catalog.Catalog, given []catalog.ActionType) []catalog.ActionType {
	names := map[string]bool{}
	for _, a := range given {
		names[a.Name] = true
	}
	ats := slices.Clone(given)
	for _, a := range current.ActionTypes() {
		if !names[a.Name] {
			ats = append(ats, a)
		}
	}
	return ats
}
