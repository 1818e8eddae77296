package canonjson_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/canonjson"
)

var seeds = []string{
	`{"b":1,"a":[true,false,null],"c":{"z":"x","y":1.50e1}}`,
	`  [ 1e21 , 1e-7, 0.000001, -0, 123456789012345678901234, 5e-324 ] `,
	`{"\u20ac":1,"\ud83d\ude00":2,"\ufb33":3,"a\u0000b":"\u0001\n\"\\\/"}`,
	`"\u2028\u2029é"`, `{"a":1,"a":2}`, `1e400`, `{"a":}`, `{}`, `[]`, `0`,
	`{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ignore locale"}`,
}

func TestMatchesTheJCSLibrary(t *testing.T) {
	for _, s := range seeds {
		want, wantErr := jcs.Transform([]byte(s))
		got, err := canonjson.Transform([]byte(s))
		if wantErr != nil {
			assert.Error(t, err, s)
			continue
		}
		require.NoError(t, err, s)
		assert.Equal(t, string(want), string(got), s)
	}
}

func TestRejectsWhatCannotBeStoredFaithfully(t *testing.T) {
	for _, in := range []string{`"\ud800"`, `{"a":"\udc00x"}`, `1e400`, `{"a":[-1e400]}`, "\"\xff\"", `{"a":1}x`, `{"a":1,}`} {
		_, err := canonjson.Transform([]byte(in))
		assert.Error(t, err, in)
	}
	out, err := canonjson.Transform([]byte(`[1.7976931348623157e308, 1e-400]`))
	require.NoError(t, err)
	assert.Equal(t, `[1.7976931348623157e+308,0]`, string(out))
}

func TestRejectsDuplicateKeysAtAnyDepth(t *testing.T) {
	_, err := canonjson.Transform([]byte(`{"a":{"b":1,"c":2,"b":3}}`))
	assert.ErrorContains(t, err, `duplicate object member name "b"`)
}

// FuzzMatchesJCS is a differential test against the reference library:
// whatever one accepts the other must turn into the same bytes.
func FuzzMatchesJCS(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":"` + "\xff\xc0\x80\x00" + `","b\u0000":"\ud800"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := jcs.Transform(in)
		got, err := canonjson.Transform(in)
		if !json.Valid(in) || !utf8.Valid(in) {
			return // the library is lenient about some invalid input; we are not
		}
		if t := bytes.TrimLeft(in, " \t\r\n"); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
			return // the library mis-parses a top-level scalar after whitespace; payloads are objects
		}
		if err != nil && wantErr == nil && strings.Contains(err.Error(), "surrogate") {
			return // stricter on purpose: the library lets unpaired surrogates through
		}
		if (wantErr != nil) != (err != nil) {
			t.Fatalf("input %q: jcs error %v, canonjson error %v", in, wantErr, err)
		}
		if err != nil {
			return
		}
		if string(want) != string(got) {
			t.Fatalf("input %q\njcs       %q\ncanonjson %q", in, want, got)
		}
	})
}
