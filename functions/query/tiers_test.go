package query_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/functions/query"
)

// The same queries answer the same events before and after their days are
// archived and dropped from PostgreSQL.
func TestQueriesSpanHotAndColdTransparently(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	old, recent := archivetest.DaysAgo(12), archivetest.DaysAgo(1)
	oldEvents := e.Seed(t, old, 60)
	e.Seed(t, recent, 40)

	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(token+" alice\n"), 0o600))
	settings := e.Bucket.Settings()
	settings["AUDITFN_PG_DSN"] = e.DB.AppDSN
	settings["AUDITFN_QUERY_TOKENS_FILE"] = tokens
	f := query.New()
	require.NoError(t, f.Start(ctx, settings))
	t.Cleanup(func() { _ = f.Stop(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(srv.Close)

	get := func(path string, q url.Values) []byte {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return b
	}
	walk := func(q url.Values) []json.RawMessage {
		var all []json.RawMessage
		q = url.Values(q)
		for range 100 {
			var page struct {
				Events     []json.RawMessage
				NextCursor *string
			}
			require.NoError(t, json.Unmarshal(get("/api/v1/audit/events", q), &page))
			all = append(all, page.Events...)
			if page.NextCursor == nil {
				return all
			}
			q.Set("cursor", *page.NextCursor)
		}
		t.Fatal("too many pages")
		return nil
	}
	queries := []url.Values{
		{"limit": {"7"}},
		{"limit": {"9"}, "order": {"asc"}, "since": {"20d"}},
		{"event_type": {"workflow.catalog.*"}, "until": {time.Now().UTC().AddDate(0, 0, -5).Format(time.RFC3339)}},
		{"correlation_id": {oldEvents[10].CorrelationID}}, // served through the correlation index of archived parts
		{"namespace": {"payments"}, "limit": {"5"}},
	}
	before := make([][]json.RawMessage, len(queries))
	for i, q := range queries {
		before[i] = walk(url.Values(cloneValues(q)))
	}
	require.Len(t, before[3], 5)
	require.Len(t, before[4], 20, "a block clearance per remediation, all in payments")
	aggBefore := get("/api/v1/audit/aggregations", url.Values{"group_by": {"day"}})
	require.Len(t, before[0], 100)

	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	require.Len(t, rep.Days, 1)
	require.True(t, rep.Days[0].Dropped)
	require.False(t, e.PartitionExists(t, old), "the old day now lives only in the archive")

	for i, q := range queries {
		after := walk(url.Values(cloneValues(q)))
		require.Len(t, after, len(before[i]), q.Encode())
		for j := range after {
			assert.JSONEq(t, string(before[i][j]), string(after[j]), "%s: event %d", q.Encode(), j)
		}
	}
	assert.JSONEq(t, string(aggBefore), string(get("/api/v1/audit/aggregations", url.Values{"group_by": {"day"}})))

	// Verification spans the tiers too: the archived day's batches are
	// recomputed from the archive, the ledger from PostgreSQL.
	var report struct {
		OK            bool
		EventsChecked int
		Findings      []json.RawMessage
	}
	require.NoError(t, json.Unmarshal(get("/api/v1/audit/verify", url.Values{"date": {old.Format(time.DateOnly)}}), &report))
	assert.True(t, report.OK, "%s", report.Findings)
	assert.GreaterOrEqual(t, report.EventsChecked, 60)
	var one struct {
		Events []struct{ CorrelationID string }
	}
	require.NoError(t, json.Unmarshal(get("/api/v1/audit/events", url.Values{"until": {time.Now().UTC().AddDate(0, 0, -5).Format(time.RFC3339)}, "limit": {"1"}}), &one))
	require.NoError(t, json.Unmarshal(get("/api/v1/audit/verify", url.Values{"correlation_id": {one.Events[0].CorrelationID}}), &report))
	assert.True(t, report.OK, "%s", report.Findings)
	assert.Positive(t, report.EventsChecked)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
