package query_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/bucket"
	"function/functions/collector"
	"function/functions/query"
	"function/shared/auditstore"
	"function/shared/eventauth"
	"function/shared/problem"
	"function/test/fixtures"
)

type holdAPI struct {
	e     *archivetest.Env
	url   string
	store *bucket.Store
}

// startHolds archives rr-lh's flow of 12 days ago and serves the query API
// over it, emitting to a collector on the same database.
func startHolds(t *testing.T) holdAPI {
	t.Helper()
	e := archivetest.New(t)
	ctx := context.Background()
	w, err := auditstore.NewWriter(ctx, e.Pool, auditstore.Options{})
	require.NoError(t, err)
	_, err = w.Write(ctx, fixtures.Flow("rr-lh", archivetest.DaysAgo(12).Add(time.Hour)))
	require.NoError(t, err)
	w.Close()
	_, err = e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)

	dir := t.TempDir()
	keys, tokens := filepath.Join(dir, "keys"), filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(keys, []byte(strings.Repeat("k", 40)+"\n"), 0o600))
	require.NoError(t, os.WriteFile(tokens, []byte(token+" alice\n"), 0o600))
	col := collector.New()
	require.NoError(t, col.Start(ctx, map[string]string{"AUDITFN_PG_DSN": e.DB.AppDSN, eventauth.Setting: keys}))
	t.Cleanup(func() { _ = col.Stop(ctx) })
	colSrv := httptest.NewServer(http.HandlerFunc(col.Handle))
	t.Cleanup(colSrv.Close)

	settings := e.Bucket.Settings()
	settings["AUDITFN_PG_DSN"], settings["AUDITFN_QUERY_TOKENS_FILE"] = e.DB.AppDSN, tokens
	settings["K_SINK"], settings[eventauth.Setting] = colSrv.URL, keys
	f := query.New()
	require.NoError(t, f.Start(ctx, settings))
	t.Cleanup(func() { _ = f.Stop(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(srv.Close)
	st, err := bucket.Open(ctx, e.Config().Bucket)
	require.NoError(t, err)
	return holdAPI{e: e, url: srv.URL, store: st}
}

func (a holdAPI) do(t *testing.T, method, path, bearer, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// held is whether rr-lh's one archived part is under S3 legal hold.
func (a holdAPI) held(t *testing.T) bool {
	t.Helper()
	var key, version string
	require.NoError(t, a.e.Pool.QueryRow(context.Background(),
		`SELECT object_key, object_version FROM audit.correlation_parts('rr-lh')`).Scan(&key, &version))
	on, err := a.store.LegalHold(context.Background(), key, version)
	require.NoError(t, err)
	return on
}

func TestLegalHoldsThroughTheAPI(t *testing.T) {
	a := startHolds(t)
	const path = "/api/v1/audit/legal-holds"

	status, _ := a.do(t, http.MethodPost, path, "", `{"correlation_id":"rr-lh","reason":"x"}`)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = a.do(t, http.MethodDelete, path+"/rr-lh", "wrong-token-0123456789", `{"reason":"x"}`)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = a.do(t, http.MethodGet, path, "", "")
	assert.Equal(t, http.StatusUnauthorized, status)

	for body, field := range map[string]string{
		`{"correlation_id":"rr-lh"}`:                                              "reason",
		`{"correlation_id":"rr-lh","reason":"   "}`:                               "reason",
		`{"correlation_id":"rr-lh","reason":"` + strings.Repeat("r", 1025) + `"}`: "reason",
		`{"reason":"litigation"}`:                                                 "correlation_id",
		`{"correlation_id":"` + strings.Repeat("c", 254) + `","reason":"x"}`:      "correlation_id",
		`{"correlation_id":"rr-lh","reason":"a\u0000b"}`:                          "reason",
		"{\"correlation_id\":\"rr-\xff\",\"reason\":\"x\"}":                       "correlation_id",
		`{"correlation_id":"rr-lh","reason":"x","placed_by":"mallory"}`:           "body",
		`not json`: "body",
		``:         "body",
	} {
		status, b := a.do(t, http.MethodPost, path, token, body)
		require.Equal(t, http.StatusBadRequest, status, "%q: %s", body, b)
		assert.Equal(t, []string{field}, problemFields(t, b), "%q", body)
	}
	for p, field := range map[string]string{path + "/rr-%00": "correlation_id", path + "/rr-%FF": "correlation_id", path + "/": "correlation_id"} {
		status, b := a.do(t, http.MethodDelete, p, token, `{"reason":"x"}`)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", p, b)
		assert.Equal(t, []string{field}, problemFields(t, b))
	}
	status, b := a.do(t, http.MethodDelete, path+"/rr-lh", token, `{"reason":"x\u0000"}`)
	require.Equal(t, http.StatusBadRequest, status, string(b))
	assert.Equal(t, []string{"reason"}, problemFields(t, b))
	assert.Zero(t, a.e.DB.Count(t, "audit.legal_holds"), "a refused request stores nothing")
	assert.False(t, a.held(t))

	status, b = a.do(t, http.MethodPost, path, token, `{"correlation_id":"rr-lh","reason":"litigation 42"}`)
	require.Equal(t, http.StatusCreated, status, string(b))
	var placed struct{ CorrelationID, Action, Reason, Actor, EventID string }
	require.NoError(t, json.Unmarshal(b, &placed))
	assert.Equal(t, "alice", placed.Actor)
	assert.True(t, a.held(t), "the archived part is under S3 legal hold")

	status, b = a.do(t, http.MethodPost, path, token, `{"correlation_id":"rr-lh","reason":"litigation 42"}`)
	require.Equal(t, http.StatusOK, status, "a retry: %s", b)
	var again struct{ EventID string }
	require.NoError(t, json.Unmarshal(b, &again))
	assert.Equal(t, placed.EventID, again.EventID)
	status, _ = a.do(t, http.MethodPost, path, token, `{"correlation_id":"rr-lh","reason":"another case"}`)
	assert.Equal(t, http.StatusConflict, status)
	status, _ = a.do(t, http.MethodPut, path, token, ``)
	assert.Equal(t, http.StatusMethodNotAllowed, status)

	status, b = a.do(t, http.MethodGet, path+"?correlation_id=rr-lh", token, "")
	require.Equal(t, http.StatusOK, status, string(b))
	var list struct {
		Holds []struct {
			CorrelationID, Reason, PlacedBy string
			Active                          bool
		}
	}
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Holds, 1)
	assert.True(t, list.Holds[0].Active)
	status, b = a.do(t, http.MethodGet, path+"?correlation_id=%00", token, "")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, []string{"correlation_id"}, problemFields(t, b))

	status, _ = a.do(t, http.MethodDelete, path+"/rr-never-held", token, `{"reason":"x"}`)
	assert.Equal(t, http.StatusNotFound, status)
	status, b = a.do(t, http.MethodDelete, path+"/rr%2Fwith-slash", token, `{"reason":"x"}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, string(b), "no legal hold on this correlation id", "an escaped / is part of the correlation id")
	status, b = a.do(t, http.MethodDelete, path+"/rr-lh", token, `{"reason":"case closed"}`)
	require.Equal(t, http.StatusOK, status, string(b))
	assert.False(t, a.held(t), "released")
	status, _ = a.do(t, http.MethodDelete, path+"/rr-lh", token, `{"reason":"case closed"}`)
	assert.Equal(t, http.StatusOK, status, "a retry")

	// Each change is one audit event, whatever the retries.
	require.Eventually(t, func() bool {
		return a.e.DB.Count(t, "audit.audit_events WHERE event_type LIKE 'audit.legal_hold.%'") == 2
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, int64(1), a.e.DB.Count(t, `audit.audit_events WHERE event_type = 'audit.legal_hold.placed' AND correlation_id = 'rr-lh'
		AND actor_id = 'alice' AND event_data->>'reason' = 'litigation 42' AND event_id::text = $1`, placed.EventID))
	assert.Equal(t, int64(1), a.e.DB.Count(t, `audit.audit_events WHERE event_type = 'audit.legal_hold.released' AND correlation_id = 'rr-lh'
		AND actor_id = 'alice' AND event_data->>'reason' = 'case closed'`))

	status, b = a.do(t, http.MethodGet, path, token, "")
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Holds, 1)
	assert.False(t, list.Holds[0].Active)
}

// problemFields are the fields a problem answer names.
func problemFields(t *testing.T, body []byte) []string {
	t.Helper()
	var p problem.Problem
	require.NoError(t, json.Unmarshal(body, &p), string(body))
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}
