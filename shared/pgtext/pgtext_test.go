package pgtext_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/pgtext"
)

func TestValidTextIsWhatPostgreSQLStores(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, "rr-1": true, "naïve ☃ 😀": true, "tab\there": true,
		"a\x00b": false, "\xff": false, "\xc0\x80": false /* overlong NUL */, "\xed\xa0\x80": false, /* a surrogate */
	} {
		assert.Equal(t, want, pgtext.Valid(s), "%q", s)
	}
}

func TestBadJSONTextNamesTheString(t *testing.T) {
	for raw, want := range map[string]string{
		`{"a":"\u0000"}`:            "p.a",
		`{"a":["ok","\ud800"]}`:     "p.a[1]",
		"{\"a\":{\"b\":\"\xff\"}}":  "p.a.b",
		"{\"a\":{\"b\xc0\x80\":1}}": "p.a",
		`{"x\u0000":1}`:             "p",
		`[1,{"k":"\udc00x"}]`:       "p[1].k",
	} {
		field, found := pgtext.BadJSON("p", []byte(raw))
		assert.True(t, found, raw)
		assert.Equal(t, want, field, raw)
	}
	field, found := pgtext.BadJSONUTF8("p", []byte(`{"a":"\u0000","b":["\ud800"]}`))
	assert.True(t, found)
	assert.Equal(t, "p.b[0]", field, "a NUL passes")
	for _, raw := range []string{
		`{"a":"b","a":"c"}`, `{"a":"\\u0000"}`, `{"a":"\ud83d\ude00 ☃"}`, `[1,true,null,{}]`,
		`{"a":`, `{"a" "\u0000"}`, // malformed: the caller's decoder says so
	} {
		_, found := pgtext.BadJSON("p", []byte(raw))
		assert.False(t, found, raw)
	}
}
