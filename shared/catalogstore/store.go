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

// storedWorkflow is a catalog.workflows row as Load reads it: its content,
// or, saved before the content column existed, its document.
type storedWorkflow struct {
	name     string
	version  string
	status   string
	content  []byte
	document []byte
}

func (s *storedWorkflow) decode() (catalog.Workflow, error) {
	if s.content != nil {
		return catalog.ParseContent(s.content, catalog.Status(s.status))
	}
	var w catalog.Workflow
	return w, jsonv2.Unmarshal(s.document, &w)
}

// loadWorkflows reads every workflow version, decoding them on all CPUs:
// with the content hashed as stored, decoding is most of a snapshot load,
// and a function that scales from zero is not ready before it is done.
// The rows are put in order here rather than by the query: sorting them in
// a fresh database backend took longer than reading them.
func loadWorkflows(ctx context.Context, q Querier) ([]catalog.Workflow, error) {
	rows, err := q.Query(ctx, `SELECT workflow_name, version, status, content,
		CASE WHEN content IS NULL THEN document END FROM catalog.workflows`)
	if err != nil {
		return nil, err
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedWorkflow, error) {
		var s storedWorkflow
		return s, r.Scan(&s.name, &s.version, &s.status, &s.content, &s.document)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(stored, func(a, b storedWorkflow) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.version, b.version))
	})
	workflows := make([]catalog.Workflow, len(stored))
	err = parallel.Each(len(stored), func(i int) (err error) {
		if workflows[i], err = stored[i].decode(); err != nil {
			return fmt.Errorf("workflow row %d: %w", i+1, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return workflows, nil
}

// ErrVersionChanged is returned when a loaded document changes the content of
// a workflow version already in the catalog: published versions are
// immutable, a change needs a new version.
var ErrVersionChanged = errors.New("workflow version already loaded with different content; bump its version")

// Save loads a catalog's action types and workflows into the tables in one
// transaction: action types are upserted by name; workflow versions are
// inserted, or have their status updated when the same content is already
// there. The whole resulting catalog is validated before commit, and the
// change is signalled to every function's snapshot.
func Save(ctx context.Context, conn *pgx.Conn, c *catalog.Catalog) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	for _, a := range c.ActionTypes() {
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
	for _, w := range c.Workflows() {
		doc, err := json.Marshal(w)
		if err != nil {
			return err
		}
		content, err := w.Content()
		if err != nil {
			return err
		}
		var id [16]byte
		err = tx.QueryRow(ctx, `SELECT workflow_id FROM catalog.workflows WHERE workflow_name = $1 AND version = $2`,
			w.WorkflowName, w.Version).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case id != w.WorkflowID:
			return fmt.Errorf("%s %s: %w", w.WorkflowName, w.Version, ErrVersionChanged)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO catalog.workflows
			(workflow_id, workflow_name, version, action_type, status, content_hash, document, content)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (workflow_id) DO UPDATE SET status = EXCLUDED.status, document = EXCLUDED.document,
				content = EXCLUDED.content, loaded_at = now()
			WHERE catalog.workflows.status IS DISTINCT FROM EXCLUDED.status OR catalog.workflows.content IS NULL`,
			w.WorkflowID, w.WorkflowName, w.Version, w.ActionType, string(w.Status), w.ContentHash, doc, string(content)); err != nil {
			return fmt.Errorf("workflow %s %s: %w", w.WorkflowName, w.Version, err)
		}
	}
	// What functions will load must be this catalog, under the same ids.
	loaded, err := Load(ctx, tx)
	if err != nil {
		return err
	}
	ids := map[[16]byte]bool{}
	for _, w := range loaded.Workflows() {
		ids[w.WorkflowID] = true
	}
	for _, w := range c.Workflows() {
		if !ids[w.WorkflowID] {
			return fmt.Errorf("workflow %s %s: stored content does not load back under id %s", w.WorkflowName, w.Version, w.WorkflowID)
		}
	}
	return tx.Commit(ctx)
}
