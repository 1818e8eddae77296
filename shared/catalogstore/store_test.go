package catalogstore_test

import (
	"context"
	"encoding/json"
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
	db := testenv.NewDB(t)
	ctx := context.Background()
	saved, err := catalog.LoadDir(fstest.MapFS{"generated.yaml": {Data: catalog.Generate(200, 7)}})
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
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
