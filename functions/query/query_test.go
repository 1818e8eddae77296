package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/functions/query"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/pgtext"
	"function/shared/problem"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/testenv"
)

const token = "test-token-0123456789abcdef"

type api struct {
	db  testenv.DB
	url string
}

// start writes three remediations' flows (15 events over three days) and
// serves the query API over them.
func start(t *testing.T) api {
	t.Helper()
	db := testenv.NewDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AppDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	w, err := auditstore.NewWriter(ctx, pool, auditstore.Options{})
	require.NoError(t, err)
	// Each remediation's flow (seconds long) within one day: one that
	// straddled midnight would split its batch over two partitions.
	base := time.Now().UTC().Add(-50 * time.Hour)
	if base.Sub(base.Truncate(24*time.Hour)) > 24*time.Hour-time.Minute {
		base = base.Add(-2 * time.Minute)
	}
	for i := range 3 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-q-%d", i), base.Add(time.Duration(i)*24*time.Hour)))
		require.NoError(t, err)
	}
	w.Close()
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("# auditors\n"+token+" alice\n"), 0o600))
	f := query.New()
	require.NoError(t, f.Start(ctx, map[string]string{"AUDITFN_PG_DSN": db.AppDSN, "AUDITFN_QUERY_TOKENS_FILE": tokens}))
	t.Cleanup(func() { _ = f.Stop(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(srv.Close)
	return api{db: db, url: srv.URL}
}

func (a api) get(t *testing.T, path string, q url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type eventsPage struct {
	Events []struct {
		ID, Type, CorrelationID string
		Time                    time.Time
		Data                    map[string]any
	}
	NextCursor *string
}

func TestAFlowIsOneCallInTimeOrder(t *testing.T) {
	a := start(t)
	status, body := a.get(t, "/api/v1/audit/events", url.Values{"correlation_id": {"rr-q-1"}, "event_type": {"workflow.catalog.*"}})
	require.Equal(t, http.StatusOK, status, string(body))
	var page eventsPage
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Events, 4)
	for i, e := range page.Events {
		assert.Equal(t, auditevent.Types()[i], e.Type, "ascending by default for a correlation id")
		assert.Equal(t, "rr-q-1", e.CorrelationID)
		assert.NotEmpty(t, e.Data)
	}
	assert.Nil(t, page.NextCursor)
}

func TestPagesAreStableAndComplete(t *testing.T) {
	a := start(t)
	seen := map[string]bool{}
	var last time.Time
	q := url.Values{"limit": {"4"}}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		status, body := a.get(t, "/api/v1/audit/events", q)
		require.Equal(t, http.StatusOK, status, string(body))
		var page eventsPage
		require.NoError(t, json.Unmarshal(body, &page))
		for _, e := range page.Events {
			assert.False(t, seen[e.ID], "no event twice")
			seen[e.ID] = true
			if !last.IsZero() {
				assert.False(t, e.Time.After(last), "descending without a correlation id")
			}
			last = e.Time
		}
		if page.NextCursor == nil {
			break
		}
		// Events arriving meanwhile do not disturb the walk.
		q.Set("cursor", *page.NextCursor)
	}
	assert.Len(t, seen, 15)

	q.Set("event_outcome", "failure")
	status, body := a.get(t, "/api/v1/audit/events", q)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), `"cursor"`, "a cursor is bound to its filters")
}

func TestFiltersAndAggregations(t *testing.T) {
	a := start(t)
	cases := []struct {
		q    url.Values
		want int
	}{
		{url.Values{"event_type": {"workflowexecution.block.cleared"}}, 3},
		{url.Values{"event_type": {"workflow.catalog.actions_listed", "workflow.catalog.workflows_listed"}}, 6},
		{url.Values{"event_category": {"workflowexecution"}}, 3},
		{url.Values{"actor_id": {"alice@example.com"}}, 3},
		{url.Values{"workflow_id": {"6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b"}}, 9},
		{url.Values{"namespace": {"payments"}}, 3},
		{url.Values{"namespace": {"checkout"}}, 0},
		{url.Values{"since": {"30h"}}, 10},
		{url.Values{"since": {"3d"}, "until": {time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339)}}, 5},
	}
	for _, c := range cases {
		status, body := a.get(t, "/api/v1/audit/events", c.q)
		require.Equal(t, http.StatusOK, status, string(body))
		var page eventsPage
		require.NoError(t, json.Unmarshal(body, &page))
		assert.Len(t, page.Events, c.want, c.q.Encode())
	}
	status, body := a.get(t, "/api/v1/audit/aggregations", url.Values{"group_by": {"event_type"}})
	require.Equal(t, http.StatusOK, status, string(body))
	var agg struct {
		Total  int64
		Groups []struct {
			Key   string
			Count int64
		}
	}
	require.NoError(t, json.Unmarshal(body, &agg))
	assert.Equal(t, int64(15), agg.Total)
	assert.Len(t, agg.Groups, 5)
	for _, g := range agg.Groups {
		assert.Equal(t, int64(3), g.Count, g.Key)
	}
	status, body = a.get(t, "/api/v1/audit/aggregations", url.Values{"group_by": {"day"}, "correlation_id": {"rr-q-0"}})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &agg))
	assert.Equal(t, int64(5), agg.Total)
}

func TestBadParametersAreNamed(t *testing.T) {
	a := start(t)
	for field, q := range map[string]url.Values{
		"limit":         {"limit": {"0"}},
		"since":         {"since": {"yesterday"}},
		"until":         {"since": {"1h"}, "until": {"2h"}},
		"event_type":    {"event_type": {"workflow.*.listed"}},
		"event_outcome": {"event_outcome": {"meh"}},
		"namespace":     {"namespace": {"Payments_EU"}},
		"order":         {"order": {"sideways"}},
		"cursor":        {"cursor": {"bm90IGEgY3Vyc29y"}},
	} {
		status, body := a.get(t, "/api/v1/audit/events", q)
		assert.Equal(t, http.StatusBadRequest, status, field)
		assert.Contains(t, string(body), `"field":"`+field+`"`)
	}
	status, body := a.get(t, "/api/v1/audit/aggregations", url.Values{"group_by": {"color"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), `"field":"group_by"`)
	status, _ = a.get(t, "/api/v1/audit/verify", url.Values{})
	assert.Equal(t, http.StatusBadRequest, status)
}

func TestNoTokenNoData(t *testing.T) {
	a := start(t)
	for _, h := range []string{"", "Bearer wrong-token-0000000000000", "Basic " + token, "Bearer " + token + "x"} {
		req, _ := http.NewRequest(http.MethodGet, a.url+"/api/v1/audit/events?correlation_id=rr-q-1", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, h)
		assert.NotContains(t, string(b), "rr-q-1")
		assert.Equal(t, `Bearer realm="auditfn"`, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestVerifyReportsTheCulprit(t *testing.T) {
	a := start(t)
	day := time.Now().UTC().Add(-26 * time.Hour).Format(time.DateOnly)
	status, body := a.get(t, "/api/v1/audit/verify", url.Values{"correlation_id": {"rr-q-1"}})
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Contains(t, string(body), `"ok":true`)

	victim := a.db.Scalar(t, "SELECT event_id::text FROM audit.audit_events WHERE correlation_id = 'rr-q-1' AND event_type = 'workflow.catalog.workflow_retrieved'").(string)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, a.db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SET session_replication_role = replica;
		UPDATE audit.audit_events SET event_data = jsonb_set(event_data, '{securityGateResult}', '"pass-forged"') WHERE event_id = '`+victim+`'`)
	require.NoError(t, err)
	for _, q := range []url.Values{{"correlation_id": {"rr-q-1"}}, {"date": {day}}} {
		status, body = a.get(t, "/api/v1/audit/verify", q)
		require.Equal(t, http.StatusOK, status, string(body))
		var rep struct {
			OK       bool
			Findings []verify.Finding
		}
		require.NoError(t, json.Unmarshal(body, &rep))
		assert.False(t, rep.OK, q.Encode())
		require.NotEmpty(t, rep.Findings, q.Encode())
		assert.Equal(t, victim, rep.Findings[0].EventID)
	}
	status, body = a.get(t, "/api/v1/audit/verify", url.Values{"correlation_id": {"rr-q-0"}})
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(body), `"ok":true`, "other remediations still verify clean")
}

// PostgreSQL refuses NUL and invalid UTF-8 in text: in any parameter of any
// endpoint they are a 400 naming the parameter, not the database's error
// (which was a 503 and an ERROR in the log).
func TestNULAndInvalidUTF8AreNamedNotPassedToPostgreSQL(t *testing.T) {
	a := start(t)
	endpoints := map[string][]string{
		"/api/v1/audit/events": {"correlation_id", "event_type", "event_category", "event_outcome", "workflow_id",
			"namespace", "actor_id", "since", "until", "limit", "order", "cursor"},
		"/api/v1/audit/aggregations": {"correlation_id", "event_type", "event_category", "event_outcome", "workflow_id",
			"namespace", "actor_id", "since", "until"},
		"/api/v1/audit/verify": {"correlation_id", "date"},
	}
	for path, params := range endpoints {
		for _, name := range params {
			for _, bad := range []string{"\x00", "rr-q-1\x00", "\xff", "rr-\xc0\x80", "\xed\xa0\x80"} {
				q := url.Values{name: {bad}}
				if path == "/api/v1/audit/aggregations" {
					q.Set("group_by", "event_type")
				}
				status, body := a.get(t, path, q)
				require.Equal(t, http.StatusBadRequest, status, "%s %s=%q: %s", path, name, bad, body)
				var p problem.Problem
				require.NoError(t, json.Unmarshal(body, &p))
				require.Len(t, p.Errors, 1, "%s %s=%q: %s", path, name, bad, body)
				assert.Equal(t, name, p.Errors[0].Field)
				assert.Equal(t, pgtext.Message, p.Errors[0].Message)
			}
		}
	}
}
