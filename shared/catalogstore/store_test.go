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
// same specs, field for field (the content is written by encoding/json and
// read by the v2 prototype).
func TestLoadReturnsWhatWasSaved(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	saved := generated(t, 200, 7)
	require.NoError(t, save(ctx, conn, saved))

	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.Equal(t, docs(t, saved.ActionTypes()), docs(t, loaded.ActionTypes()))
	want, got := saved.Workflows(), loaded.Workflows()
	require.Len(t, got, len(want))
	byID := map[string]catalog.Workflow{}
	for _, w := range want {
		byID[w.WorkflowID.String()] = w
	}
	for _, w := range got {
		saved := byID[w.WorkflowID.String()]
		assert.Equal(t, saved.WorkflowSpec, w.WorkflowSpec, w.WorkflowName)
		assert.Equal(t, saved.Detected, w.Detected, w.WorkflowName)
		assert.Equal(t, saved.Status, w.Status, w.WorkflowName)
		assert.Equal(t, string(saved.Content()), string(w.Content()), w.WorkflowName)
	}
}

// Load gives the workflows in (name, version) order whatever order the
// table holds them in: an update moves a row to the end of the heap.
func TestLoadOrdersWorkflowsByNameAndVersion(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	require.NoError(t, save(ctx, conn, generated(t, 50, 11)))
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
	require.NoError(t, save(ctx, conn, saved))

	victim := saved.Workflows()[0]
	_, err := conn.Exec(ctx, `UPDATE catalog.workflows SET content = replace(content, $2, $3) WHERE workflow_id = $1`,
		victim.WorkflowID, `"what":"`, `"what":"ALTERED `)
	require.NoError(t, err)

	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	altered := victim.Document()
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

// Saving one document merges it into what is stored: a new version is
// added beside the old, a status change updates the row, and content
// changed under a published version is refused with nothing written.
func TestSaveMergesIntoTheStoredCatalog(t *testing.T) {
	ctx := context.Background()
	_, conn := adminConn(t)
	base := generated(t, 20, 9)
	require.NoError(t, save(ctx, conn, base))
	first := base.Workflows()[0]

	next := first.Document()
	next.Version = "9.0.0"
	require.NoError(t, catalogstore.Save(ctx, conn, nil, []catalog.Workflow{next}))
	loaded, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.Len(t, loaded.Workflows(), 21, "the new version is added, nothing else changes")
	assert.ElementsMatch(t, append(ids(base), idOf(loaded, first.WorkflowName, "9.0.0")), ids(loaded))

	disabled := next.Document()
	disabled.Status = catalog.StatusDisabled
	require.NoError(t, catalogstore.Save(ctx, conn, nil, []catalog.Workflow{disabled}))
	loaded, err = catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.Len(t, loaded.Workflows(), 21)
	for _, w := range loaded.Workflows() {
		if w.WorkflowName == first.WorkflowName && w.Version == "9.0.0" {
			assert.Equal(t, catalog.StatusDisabled, w.Status)
		}
	}

	changed := first.Document()
	changed.Description.What = "Something else."
	err = catalogstore.Save(ctx, conn, nil, []catalog.Workflow{changed})
	assert.ErrorIs(t, err, catalogstore.ErrVersionChanged)

	unknown := first.Document()
	unknown.Version, unknown.ActionType = "9.1.0", "NoSuchAction"
	err = catalogstore.Save(ctx, conn, nil, []catalog.Workflow{unknown})
	var le *catalog.LoadError
	assert.ErrorAs(t, err, &le)
	after, err := catalogstore.Load(ctx, conn)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids(loaded), ids(after), "a refused save writes nothing")
}

func idOf(c *catalog.Catalog, name, version string) string {
	for _, w := range c.Workflows() {
		if w.WorkflowName == name && w.Version == version {
			return w.WorkflowID.String()
		}
	}
	return ""
}

func save(ctx context.Context, conn *pgx.Conn, c *catalog.Catalog) error {
	return catalogstore.Save(ctx, conn, c.ActionTypes(), c.Workflows())
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
