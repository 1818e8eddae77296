package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/functions/collector"
	"function/shared/auditevent"
	"function/shared/problem"
	"function/test/fixtures"
	"function/test/testenv"
)

func startCollector(t *testing.T) (testenv.DB, string) {
	t.Helper()
	db := testenv.NewDB(t)
	f := collector.New()
	require.NoError(t, f.Start(context.Background(), map[string]string{"AUDITFN_PG_DSN": db.AppDSN}))
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(srv.Close)
	return db, srv.URL
}

func post(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

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

func TestAcceptsBinaryStructuredAndBatchModes(t *testing.T) {
	db, url := startCollector(t)
	ctx := context.Background()
	flow := fixtures.Flow("rr-modes", time.Now())

	req, err := cehttp.NewHTTPRequestFromEvent(ctx, url, auditevent.ToCloudEvent(flow[0]))
	require.NoError(t, err)
	status, body := post(t, req)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Empty(t, body, "a Broker's filter takes a 2xx with a body for a failed delivery")

	structured, err := json.Marshal(auditevent.ToCloudEvent(flow[1]))
	require.NoError(t, err)
	assert.Contains(t, string(structured), `"data":{`, "JSON payloads travel as JSON, not data_base64")
	req, _ = http.NewRequest(http.MethodPost, url, bytes.NewReader(structured))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	status, body = post(t, req)
	require.Equal(t, http.StatusOK, status, string(body))

	batch := []cloudevents.Event{}
	for _, ev := range flow[2:] {
		batch = append(batch, auditevent.ToCloudEvent(ev))
	}
	// Other senders may send a JSON payload base64-encoded (data_base64).
	require.NoError(t, batch[0].SetData(cloudevents.ApplicationJSON, []byte(flow[2].Data)))
	req, err = cehttp.NewHTTPRequestFromEvents(ctx, url, batch)
	require.NoError(t, err)
	status, body = post(t, req)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Empty(t, body)

	for _, ev := range flow {
		assert.Equal(t, int64(1), db.Count(t, "audit.audit_events WHERE event_id = $1 AND event_type = $2", ev.ID, ev.Type))
		assert.JSONEq(t, string(ev.Data), db.Scalar(t, "SELECT event_data::text FROM audit.audit_events WHERE event_id = $1", ev.ID).(string))
	}
}

func TestABadEventFailsItsWholeBatchAndStoresNothing(t *testing.T) {
	db, url := startCollector(t)
	flow := fixtures.Flow("rr-bad", time.Now())
	batch := []cloudevents.Event{}
	for _, ev := range flow {
		batch = append(batch, auditevent.ToCloudEvent(ev))
	}
	batch[2].SetExtension("outcome", "perhaps")
	req, err := cehttp.NewHTTPRequestFromEvents(context.Background(), url, batch)
	require.NoError(t, err)
	status, body := post(t, req)
	require.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, []string{"events[2].outcome"}, problemFields(t, body))
	assert.Equal(t, int64(0), db.Count(t, "audit.audit_events"))
}

func TestRejectsWhatIsNotAnAuditEvent(t *testing.T) {
	_, url := startCollector(t)
	cases := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"plain json", "application/json", `{"a":1}`, http.StatusBadRequest, "body"},
		{"broken structured", "application/cloudevents+json", `{"specversion":`, http.StatusBadRequest, "body"},
		{"empty batch", "application/cloudevents-batch+json", `[]`, http.StatusBadRequest, "body"},
		{"batch not an array", "application/cloudevents-batch+json", `{"specversion":"1.0"}`, http.StatusBadRequest, "body"},
		{"batch element not an event", "application/cloudevents-batch+json", `[{"specversion":"1.0","id":"a","source":"/s","type":"t"}, 5]`, http.StatusBadRequest, "events[1]"},
		{"data after the batch", "application/cloudevents-batch+json", `[{"specversion":"1.0","id":"a","source":"/s","type":"t"}] []`, http.StatusBadRequest, "body"},
		// A ping is not stored: it triggers a compaction, which this
		// collector cannot run without archive settings (compact_test.go).
		{"ping event", "application/cloudevents+json", `{"specversion":"1.0","id":"x","source":"/ping","type":"dev.knative.sources.ping"}`, http.StatusServiceUnavailable, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.contentType)
			status, body := post(t, req)
			assert.Equal(t, c.status, status, string(body))
			if c.field != "" {
				assert.Contains(t, problemFields(t, body), c.field)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`[`+strings.Repeat(" ", 17<<20)+`]`))
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	status, _ := post(t, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestTheSameEventPostedFiveTimesConcurrentlyIsStoredOnce(t *testing.T) {
	db, url := startCollector(t)
	ev := auditevent.ToCloudEvent(fixtures.Event(auditevent.TypeWorkflowRetrieved, "rr-5x", time.Now()))
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), url, ev)
			require.NoError(t, err)
			status, body := post(t, req)
			assert.Equal(t, http.StatusOK, status, string(body))
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), db.Count(t, "audit.audit_events WHERE event_id = $1", ev.ID()))
}

func TestStartNamesAMissingSetting(t *testing.T) {
	err := collector.New().Start(context.Background(), map[string]string{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AUDITFN_PG_DSN")
}
