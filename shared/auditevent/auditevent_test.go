package auditevent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/test/fixtures"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestEveryTypeRoundTripsThroughACloudEvent(t *testing.T) {
	for _, ty := range auditevent.Types() {
		t.Run(ty, func(t *testing.T) {
			ev := fixtures.Event(ty, "rr-7", now.Add(-time.Minute).Add(123456789))
			got, err := auditevent.FromCloudEvent(auditevent.ToCloudEvent(ev), now)
			require.NoError(t, err)
			assert.Equal(t, ev, got)
			assert.Equal(t, 0, got.Time.Nanosecond()%1000, "µs precision")
			assert.Equal(t, "/auditfn/"+fixtures.Function(ty), got.Source)
		})
	}
}

func TestConstructorsFillTheEnvelopeFromThePayload(t *testing.T) {
	p := fixtures.Payload(auditevent.TypeWorkflowRetrieved, "").(auditevent.WorkflowRetrieved)
	p.SecurityGateResult = auditevent.GateFail
	ev, err := auditevent.New("workflow", p, auditevent.Actor{Type: "service", ID: "hapi"}, now)
	require.NoError(t, err)
	assert.Equal(t, auditevent.OutcomeFailure, ev.Outcome)
	assert.Equal(t, p.WorkflowID, ev.CorrelationID, "without a remediation id the workflow id correlates")
	assert.Equal(t, "workflow", ev.Category)
	assert.Equal(t, "retrieve", ev.Action)
	assert.Equal(t, byte(7), ev.ID[6]>>4, "UUIDv7")

	bc := fixtures.Payload(auditevent.TypeBlockCleared, "rr-9").(auditevent.BlockCleared)
	ev, err = auditevent.New("blockclear", bc, auditevent.Actor{Type: "user", ID: bc.ClearedBy}, now)
	require.NoError(t, err)
	assert.Equal(t, "rr-9", ev.CorrelationID)
	assert.Equal(t, "payments/wfe-rr-9", ev.Subject)
	assert.Equal(t, "block_cleared", ev.Action)
	assert.NotContains(t, string(ev.Data), "emediationRequest", "the remediation request travels in the envelope only")
}

func TestValidationNamesEachBadField(t *testing.T) {
	good := func() cloudevents.Event {
		return auditevent.ToCloudEvent(fixtures.Event(auditevent.TypeActionsListed, "rr", now))
	}
	cases := []struct {
		name   string
		mutate func(*cloudevents.Event)
		field  string
	}{
		{"id not a uuid", func(e *cloudevents.Event) { e.SetID("abc") }, "id"},
		{"unknown type", func(e *cloudevents.Event) { e.SetType("workflow.catalog.search_completed") }, "type"},
		{"no time", func(e *cloudevents.Event) { e.SetTime(time.Time{}) }, "time"},
		{"time far ahead", func(e *cloudevents.Event) { e.SetTime(now.Add(2 * time.Hour)) }, "time"},
		{"time in 1999", func(e *cloudevents.Event) { e.SetTime(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) }, "time"},
		{"no subject", func(e *cloudevents.Event) { e.SetSubject("") }, "subject"},
		{"wrong category", func(e *cloudevents.Event) { e.SetExtension("category", "auth") }, "category"},
		{"wrong action", func(e *cloudevents.Event) { e.SetExtension("action", "retrieve") }, "action"},
		{"bad outcome", func(e *cloudevents.Event) { e.SetExtension("outcome", "maybe") }, "outcome"},
		{"bad traceparent", func(e *cloudevents.Event) { e.SetExtension("traceparent", "xyz") }, "traceparent"},
		{"non-string extension", func(e *cloudevents.Event) { e.SetExtension("actorid", 42) }, "actorid"},
		{"NUL in subject", func(e *cloudevents.Event) { e.SetSubject("a\x00b") }, "subject"},
		{"invalid UTF-8", func(e *cloudevents.Event) { e.SetExtension("actorid", "\xff") }, "actorid"},
		{"text data", func(e *cloudevents.Event) { _ = e.SetData("text/plain", []byte("hi")) }, "datacontenttype"},
		{"missing key", func(e *cloudevents.Event) { setData(e, `{"remediationId":"rr"}`) }, "data.signalContext"},
		{"wrong key type", func(e *cloudevents.Event) {
			setData(e, strings.Replace(string(e.Data()), `"resultCount":2`, `"resultCount":"two"`, 1))
		}, "data.resultCount"},
		{"not an object", func(e *cloudevents.Event) { setData(e, `[1,2]`) }, "data"},
		{"duplicate keys", func(e *cloudevents.Event) {
			setData(e, strings.Replace(string(e.Data()), `{`, `{"resultCount":1,`, 1))
		}, "data"},
		{"NUL in data", func(e *cloudevents.Event) {
			setData(e, strings.Replace(string(e.Data()), `"remediationId":"rr"`, `"remediationId":"r\u0000r"`, 1))
		}, "data"},
		{"too deep", func(e *cloudevents.Event) {
			setData(e, strings.Replace(string(e.Data()), `"team":["platform"]`, `"team":[[[[[[[[[["x"]]]]]]]]]]`, 1))
		}, "data"},
		{"too big", func(e *cloudevents.Event) {
			setData(e, strings.Replace(string(e.Data()), `"remediationId":"rr"`, `"remediationId":"`+strings.Repeat("x", 300<<10)+`"`, 1))
		}, "data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := good()
			c.mutate(&e)
			_, err := auditevent.FromCloudEvent(e, now)
			var verr *auditevent.ValidationError
			require.ErrorAs(t, err, &verr)
			fields := []string{}
			for _, f := range verr.Errors {
				fields = append(fields, f.Field)
			}
			assert.Contains(t, fields, c.field)
		})
	}
}

func TestDataIsStoredCanonically(t *testing.T) {
	e := auditevent.ToCloudEvent(fixtures.Event(auditevent.TypeActionsListed, "rr", now))
	var m map[string]any
	require.NoError(t, json.Unmarshal(e.Data(), &m))
	m["queryDurationMs"] = json.Number("1.50e0")
	pretty, _ := json.MarshalIndent(m, "", "   ")
	setData(&e, string(pretty))
	got, err := auditevent.FromCloudEvent(e, now)
	require.NoError(t, err)
	assert.Contains(t, string(got.Data), `"queryDurationMs":1.5,`)
	assert.NotContains(t, string(got.Data), "\n")
	// A literal backslash before u0000 is ordinary text, not a NUL.
	setData(&e, strings.Replace(string(e.Data()), `"remediationId": "rr"`, `"remediationId": "a\\u0000"`, 1))
	_, err = auditevent.FromCloudEvent(e, now)
	assert.NoError(t, err)
}

func setData(e *cloudevents.Event, s string) { _ = e.SetData(cloudevents.ApplicationJSON, []byte(s)) }
