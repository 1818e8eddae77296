package catalogstore_test

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/test/testenv"
)

// What Load reads back is the catalog that was saved: same identities,
// same specs, field for field (the documents are written by encoding/json
// and read by the v2 prototype).
func TestLoadReturnsWhatWasSaved(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	saved := generated(t, 200, 7)
	require.NoError(t, catalogstore.Save(ctx, conn, saved))

	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.Equal(t, docs(t, saved.ActionTypes()), docs(t, loaded.ActionTypes()))
	want, got := saved.Workflows(), loaded.Workflows()
	require.Len(t, got, len(want))
	byID := map[string][]byte{}
	for _, w := range want {
		byID[w.WorkflowID.String()] = doc(t, w)
	}
	for _, w := range got {
		assert.JSONEq(t, string(byID[w.WorkflowID.String()]), string(doc(t, w)), w.WorkflowName)
	}
}

// Load gives the workflows in (name, version) order whatever order the
// table holds them in: an update moves a row to the end of the heap.
func TestLoadOrdersWorkflowsByNameAndVersion(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	require.NoError(t, catalogstore.Save(ctx, conn, generated(t, 50, 11)))
	_, err := conn.Exec(ctx, `UPDATE catalog.workflows SET status = status
		WHERE workflow_name IN (SELECT min(workflow_name) FROM catalog.workflows)`)
	require.NoError(t, err)
	var heapFirst, least string
	require.NoError(t, conn.QueryRow(ctx, `SELECT workflow_name FROM catalog.workflows LIMIT 1`).Scan(&heapFirst))
	require.NoError(t, conn.QueryRow(ctx, `SELECT min(workflow_name) FROM catalog.workflows`).Scan(&least))
	require.NotEqual(t, least, heapFirst, "the update moved the first name's rows to the end of the heap")
	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	got := loaded.Workflows()
	require.Len(t, got, 50)
	assert.True(t, slices.IsSortedFunc(got, func(a, b catalog.Workflow) int {
		return cmp.Or(strings.Compare(a.WorkflowName, b.WorkflowName), strings.Compare(a.Version, b.Version))
	}))
}

// A workflow's id is the hash of the content a function actually serves:
// content altered in the table is served under a new id, the old one is
// gone, and the new one is what the loader would give the altered document.
func TestStoredContentAlteredInPlaceChangesTheID(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	saved := generated(t, 20, 3)
	require.NoError(t, catalogstore.Save(ctx, conn, saved))

	victim := saved.Workflows()[0]
	_, err := conn.Exec(ctx, `UPDATE catalog.workflows SET content = replace(content, $2, $3) WHERE workflow_id = $1`,
		victim.WorkflowID, `"what":"`, `"what":"ALTERED `)
	require.NoError(t, err)

	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	altered := victim
	altered.Description.What = "ALTERED " + victim.Description.What
	again, err := catalog.New(saved.ActionTypes(), []catalog.Workflow{altered})
	require.NoError(t, err)
	wantID := again.Workflows()[0].WorkflowID
	ids := map[string]string{}
	for _, w := range loaded.Workflows() {
		ids[w.WorkflowID.String()] = w.Description.What
	}
	assert.NotContains(t, ids, victim.WorkflowID.String())
	assert.Equal(t, altered.Description.What, ids[wantID.String()])
}

// Rows saved before the content column existed load from their document,
// under the same ids; saving the catalog again fills their content.
func TestRowsWithoutContentLoadAndAreFilledBySave(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	saved := generated(t, 30, 5)
	require.NoError(t, catalogstore.Save(ctx, conn, saved))
	_, err := conn.Exec(ctx, `UPDATE catalog.workflows SET content = NULL`)
	require.NoError(t, err)

	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids(saved), ids(loaded))

	require.NoError(t, catalogstore.Save(ctx, conn, saved))
	var missing int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM catalog.workflows WHERE content IS NULL`).Scan(&missing))
	assert.Zero(t, missing)
}

// adminConn is a fresh database and a connection to it as the loader.
func adminConn(t *testing.T) (testenv.DB, *pgx.Conn) {
	t.Helper()
	db := testenv.NewDB(t)
	conn, err := pgx.Connect(context.Background(), db.AdminDSN)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return db, conn
}

// generated is a catalog of n generated workflows.
func generated(t *testing.T, n int, seed int64) *catalog.Catalog {
	t.Helper()
	c, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: catalog.Generate(n, seed)}})
	require.NoError(t, err)
	return c
}

func ids(c *catalog.Catalog) []string {
	var out []string
	for _, w := range c.Workflows() {
		out = append(out, w.WorkflowID.String())
	}
	return out
}

func docs[T any](t *testing.T, vs []T) []string {
	var out []string
	for _, v := range vs {
		out = append(out, string(doc(t, v)))
	}
	return out
}

func doc(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
