package collector

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"function/shared/auditevent"
	"function/shared/problem"
	"function/test/fixtures"
)

// FuzzDecode drives the request decoding and validation path with arbitrary
// bodies in each content mode: it must never panic, and a request it accepts
// must hold only valid events.
func FuzzDecode(f *testing.F) {
	flow := fixtures.Flow("rr-fuzz", time.Now())
	one, _ := auditevent.ToCloudEvent(flow[0]).MarshalJSON()
	f.Add(one, "application/cloudevents+json")
	batch := []cloudevents.Event{}
	for _, ev := range flow {
		batch = append(batch, auditevent.ToCloudEvent(ev))
	}
	req, _ := cehttp.NewHTTPRequestFromEvents(f.Context(), "http://x/", batch)
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(req.Body)
	f.Add(buf.Bytes(), "application/cloudevents-batch+json")
	f.Add([]byte(flow[1].Data), "application/json")
	// What PostgreSQL refuses, in each mode.
	f.Add(bytes.Replace(one, []byte(`"rr-fuzz"`), []byte(`"rr\u0000fuzz"`), -1), "application/cloudevents+json")
	f.Add(bytes.Replace(buf.Bytes(), []byte(`"rr-fuzz"`), []byte("\"rr\xff\xc0\x80fuzz\""), -1), "application/cloudevents-batch+json")
	f.Add(bytes.Replace([]byte(flow[1].Data), []byte(`"rr-fuzz"`), []byte(`"rr\ud800\u0000"`), -1), "application/json")
	fn := New()
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if contentType == "application/json" {
			// binary mode: the envelope travels in headers
			for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": flow[1].ID.String(),
				"ce-source": flow[1].Source, "ce-type": flow[1].Type, "ce-time": flow[1].Time.Format(time.RFC3339Nano),
				"ce-subject": flow[1].Subject, "ce-category": flow[1].Category, "ce-action": flow[1].Action,
				"ce-outcome": flow[1].Outcome} {
				r.Header.Set(k, v)
			}
		}
		events, errs, status := fn.decode(r)
		if status == http.StatusOK {
			if len(errs) > 0 || len(events) == 0 {
				t.Fatalf("accepted with errors %v or no events", errs)
			}
			for _, ev := range events {
				if _, err := auditevent.FromCloudEvent(auditevent.ToCloudEvent(ev), time.Now()); err != nil {
					t.Fatalf("accepted an invalid event: %v", err)
				}
			}
		} else if status == http.StatusBadRequest && len(errs) == 0 {
			t.Fatal("400 without a named field")
		}
	})
}

// decode is what Handle does with a request that is not a ping.
func (f *Function) decode(r *http.Request) ([]auditevent.Event, []problem.FieldError, int) {
	raw, batch, errs, status := parse(r)
	if status != http.StatusOK {
		return nil, errs, status
	}
	return validate(raw, batch)
}
