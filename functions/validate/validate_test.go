package validate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A proposal whose audit event could not be stored (a NUL or invalid UTF-8,
// raw or escaped, which PostgreSQL refuses; too many or too long names,
// which the collector refuses) is a 400 naming where it is, not a 200.
func TestReadParametersRefusesWhatCannotBeAudited(t *testing.T) {
	many := make([]string, maxParameters+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"P%d":1`, i)
	}
	for body, field := range map[string]string{
		`{"parameters":{` + strings.Join(many, ",") + `}}`:                 "parameters",
		`{"parameters":{"` + strings.Repeat("N", maxNameLen+1) + `":"a"}}`: "parameters",
		`{"parameters":{"NAME":"a\u0000"}}`:                                "parameters.NAME",
		`{"parameters":{"NA\u0000ME":"a"}}`:                                "parameters",
		"{\"parameters\":{\"NAME\":\"\xff\"}}":                             "parameters.NAME",
		`{"parameters":{"NODES":["a","\udfff"]}}`:                          "parameters.NODES[1]",
		"{\"parameters\":{\"NAME\":\"\xc0\x80\"}}":                         "parameters.NAME",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		params, status, errs := readParameters(httptest.NewRecorder(), r, nil)
		assert.Nil(t, params, body)
		assert.Equal(t, http.StatusBadRequest, status, body)
		require.Len(t, errs, 1, body)
		assert.Equal(t, field, errs[0].Field, body)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"parameters":{"NAME":"naïve \\u0000 ☃"}}`))
	params, status, errs := readParameters(httptest.NewRecorder(), r, nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, errs)
	assert.NotEmpty(t, params, "an escaped backslash before u0000 is plain text")
}
