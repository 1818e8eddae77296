package query_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/functions/query"
	"function/test/testenv"
)

// An unauthenticated caller must not make a label value per path it tries.
func TestRequestsAreCountedByEndpointAndNumericCode(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(token+" alice\n"), 0o600))
	f := query.New()
	require.NoError(t, f.Start(ctx, map[string]string{"AUDITFN_PG_DSN": db.AppDSN, "AUDITFN_QUERY_TOKENS_FILE": tokens}))
	t.Cleanup(func() { _ = f.Stop(ctx) })

	for _, req := range []struct {
		path   string
		authed bool
		status int
	}{
		{"/api/v1/audit/verify?date=yesterday", true, http.StatusBadRequest},
		{"/api/v1/audit/nope", true, http.StatusNotFound},
		{"/probe/1", false, http.StatusUnauthorized},
		{"/probe/2", false, http.StatusUnauthorized},
		{"/api/v1/audit/events", false, http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodGet, req.path, nil)
		if req.authed {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		f.Handle(w, r)
		require.Equal(t, req.status, w.Code, req.path)
	}

	w := httptest.NewRecorder()
	promhttp.HandlerFor(f.Registry(), promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	metrics := w.Body.String()
	for _, series := range []string{
		`auditfn_query_requests_total{code="400",endpoint="/api/v1/audit/verify"} 1`,
		`auditfn_query_requests_total{code="401",endpoint="/api/v1/audit/events"} 1`,
		`auditfn_query_requests_total{code="401",endpoint="other"} 2`,
		`auditfn_query_requests_total{code="404",endpoint="other"} 1`,
	} {
		assert.Contains(t, metrics, series)
	}
	assert.NotContains(t, metrics, "/probe/")
	assert.NotContains(t, metrics, "/api/v1/audit/nope")
}
