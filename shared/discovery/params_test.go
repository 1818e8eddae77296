package discovery

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/pgtext"
)

func valid() url.Values {
	return url.Values{"severity": {"Critical"}, "component": {"apps/v1/Deployment"}, "environment": {"production"}, "priority": {"p1"}}
}

func TestParseNormalisesAndPaginates(t *testing.T) {
	q := valid()
	q.Set("offset", "-5")
	q.Set("limit", "1000")
	q.Set("custom_labels", `{"team":["platform"]}`)
	q.Set("detected_labels", `{"gitOpsManaged":true,"gitOpsTool":"argocd"}`)
	q.Set("remediation_id", "rr-1")
	q.Set("remediationId", "rr-1")
	r, errs := Parse(q, ListStep)
	require.Empty(t, errs)
	assert.Equal(t, "critical", r.Filter.Severity)
	assert.Equal(t, "P1", r.Filter.Priority)
	assert.Equal(t, 0, r.Offset)
	assert.Equal(t, 100, r.Limit)
	assert.Equal(t, "rr-1", r.RemediationID)
	assert.True(t, *r.Filter.DetectedLabels.GitOpsManaged)
	assert.Equal(t, map[string][]string{"team": {"platform"}}, r.Filter.CustomLabels)

	q.Set("offset", "abc")
	q.Set("limit", "0")
	r, _ = Parse(q, ListStep)
	assert.Equal(t, 0, r.Offset)
	assert.Equal(t, 1, r.Limit)
	q.Del("limit")
	r, _ = Parse(q, ListStep)
	assert.Equal(t, 10, r.Limit)
}

func TestGetStepFiltersAreOptionalAndGate(t *testing.T) {
	r, errs := Parse(url.Values{"remediationId": {"rr"}}, GetStep)
	assert.Empty(t, errs)
	assert.False(t, r.Gated)
	r, errs = Parse(url.Values{"cluster": {"prod-eu-1"}}, GetStep)
	assert.Empty(t, errs)
	assert.True(t, r.Gated)
	r, _ = Parse(url.Values{"custom_labels": {`{"team":["a"]}`}}, GetStep)
	assert.False(t, r.Gated, "custom labels boost, never gate")
	_, errs = Parse(url.Values{"severity": {"loud"}}, GetStep)
	assert.Equal(t, "severity", errs[0].Field)
}

func TestParseNamesEveryBadField(t *testing.T) {
	cases := map[string]url.Values{
		"severity":        {"severity": {""}},
		"component":       {"component": {"Deployment"}},
		"priority":        {"priority": {"P4"}},
		"environment":     {"environment": {""}},
		"custom_labels":   {"custom_labels": {`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"],"g":["1"],"h":["1"],"i":["1"],"j":["1"],"k":["1"]}`}},
		"detected_labels": {"detected_labels": {`{"gitOpsManaged":true} {}`}},
		"remediation_id":  {"remediation_id": {"a"}, "remediationId": {"b"}},
		"cluster":         {"cluster": {string(make([]byte, 254))}},
	}
	for field, set := range cases {
		q := valid()
		for k, v := range set {
			q[k] = v
		}
		_, errs := Parse(q, ListStep)
		require.NotEmpty(t, errs, field)
		assert.Equal(t, field, errs[0].Field)
	}
	_, errs := Parse(url.Values{}, ListStep)
	assert.Len(t, errs, 4, "each missing required filter is named")
}

// PostgreSQL refuses NUL and invalid UTF-8: in any value that is answered
// or audited, they are a 400 naming the parameter (or the string inside a
// JSON parameter), never a request whose audit event cannot be stored.
func TestParseRefusesTextPostgreSQLCannotStore(t *testing.T) {
	type param struct{ name, value, field string }
	var cases []param
	for _, bad := range []string{"a\x00b", "\xff", "\xc0\x80"} {
		for _, name := range []string{"severity", "component", "environment", "priority", "cluster", "remediation_id", "remediationId"} {
			cases = append(cases, param{name, bad, name})
		}
		cases = append(cases, param{"custom_labels", `{"team":["` + bad + `"]}`, "custom_labels"},
			param{"detected_labels", `{"gitOpsTool":"` + bad + `"}`, "detected_labels"})
	}
	cases = append(cases, param{"custom_labels", `{"team":["ok","\u0000"]}`, "custom_labels.team[1]"},
		param{"custom_labels", `{"te\u0000am":["a"]}`, "custom_labels"},
		param{"detected_labels", `{"gitOpsTool":"\ud800"}`, "detected_labels.gitOpsTool"})
	for _, c := range cases {
		q := valid()
		q.Set(c.name, c.value)
		for _, step := range []Step{ListStep, GetStep} {
			_, errs := Parse(q, step)
			require.Len(t, errs, 1, "%s=%q: %v", c.name, c.value, errs)
			assert.Equal(t, c.field, errs[0].Field, "%s=%q", c.name, c.value)
		}
	}
	assert.NotNil(t, CheckActionType("Scale\x00Replicas"))
	assert.NotNil(t, CheckActionType("\xff"))
	assert.Nil(t, CheckActionType("ScaleReplicas"))
}

// FuzzParse: any query string gives either a request or named errors, never
// a panic, and an accepted request respects the limits and can be audited.
func FuzzParse(f *testing.F) {
	f.Add(valid().Encode())
	f.Add("severity=high&custom_labels=%7B%22a%22%3A%5B%22b%22%5D%7D&detected_labels=%7B%7D&limit=7&offset=3")
	f.Add("detected_labels=%7B%22gitOpsTool%22%3A1%7D&remediationId=x&remediation_id=y")
	f.Add(valid().Encode() + "&environment=prod%00uction&cluster=%ff&remediationId=%c0%80")
	f.Add(valid().Encode() + "&custom_labels=%7B%22a%22%3A%5B%22%5Cu0000%22%5D%7D&detected_labels=%7B%22gitOpsTool%22%3A%22%5Cud800%22%7D")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, step := range []Step{ListStep, GetStep} {
			r, errs := Parse(q, step)
			for _, e := range errs {
				if e.Field == "" || e.Message == "" {
					t.Fatalf("unnamed error %+v", e)
				}
			}
			if len(errs) > 0 {
				continue
			}
			if r.Limit < 1 || r.Limit > maxLimit || r.Offset < 0 {
				t.Fatalf("pagination out of bounds: %+v", r)
			}
			if len(r.Filter.CustomLabels) > maxCustomKeys {
				t.Fatal("too many custom label keys accepted")
			}
			rid := r.RemediationID
			if !pgtext.Valid(rid + r.Filter.Environment + r.Filter.Cluster) {
				t.Fatalf("text PostgreSQL cannot store accepted: %+v", r)
			}
			if _, err := auditevent.New("actions", auditevent.ActionsListed{RemediationID: rid, SignalContext: r.SignalContext()},
				Caller, time.Now()); err != nil {
				t.Fatalf("accepted request cannot be audited: %v", err)
			}
		}
	})
}
