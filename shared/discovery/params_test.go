package discovery

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// FuzzParse: any query string gives either a request or named errors, never
// a panic, and an accepted request respects the limits.
func FuzzParse(f *testing.F) {
	f.Add(valid().Encode())
	f.Add("severity=high&custom_labels=%7B%22a%22%3A%5B%22b%22%5D%7D&detected_labels=%7B%7D&limit=7&offset=3")
	f.Add("detected_labels=%7B%22gitOpsTool%22%3A1%7D&remediationId=x&remediation_id=y")
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
			_ = r.SignalContext()
		}
	})
}
