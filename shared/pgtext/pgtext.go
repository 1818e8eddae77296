// Package pgtext is what PostgreSQL can store as text. It refuses NUL
// (0x00, \u0000 in JSON) and invalid UTF-8 in text and in jsonb strings,
// failing the whole statement. Every parser refuses them where input comes
// in, naming the field, so the database never answers the error (a 5xx, or
// an audit event that cannot be stored).
package pgtext

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Message is the error for a value that is not Valid.
const Message = "must be valid UTF-8 without NUL characters"

// Valid reports whether PostgreSQL can store s as text.
func Valid(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// BadJSON finds the first string of a JSON text, member names included,
// that PostgreSQL cannot store once decoded: invalid UTF-8 (raw bytes or an
// unpaired surrogate escape) or a NUL. It names the string as a field under
// prefix, as errors do: under "data", /workflows/0/name is
// data.workflows[0].name; a bad member name is named by its object.
// It reads only as far as the text is well-formed: reporting malformed JSON
// is left to the caller's decoder.
func BadJSON(prefix string, raw []byte) (field string, found bool) {
	return badJSON(prefix, raw, true)
}

// BadJSONUTF8 is BadJSON for invalid UTF-8 only, which decoders such as
// encoding/json and the CloudEvents SDK quietly turn into U+FFFD; a NUL
// passes.
func BadJSONUTF8(prefix string, raw []byte) (field string, found bool) {
	return badJSON(prefix, raw, false)
}

func badJSON(prefix string, raw []byte, nul bool) (string, bool) {
	// Invalid UTF-8 is let through the decoder so that it is found here,
	// with its place, rather than ending the walk as a syntax error.
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var s []byte
	for {
		if dec.PeekKind() != '"' {
			if _, err := dec.ReadToken(); err != nil {
				return "", false // the end, or malformed
			}
			continue
		}
		lit, err := dec.ReadValue()
		if err != nil {
			return "", false
		}
		if s, err = jsontext.AppendUnquote(s[:0], lit); err == nil && (!nul || bytes.IndexByte(s, 0) < 0) {
			continue
		}
		where := dec.StackPointer()
		if kind, n := dec.StackIndex(dec.StackDepth()); kind == '{' && n%2 == 1 {
			where = where.Parent() // a member name: its place holds the bad text
		}
		return FieldPath(prefix, where), true
	}
}

// FieldPath names the place p of a JSON text as a field under prefix, as
// errors do: under "data", /workflows/0/name is data.workflows[0].name.
func FieldPath(prefix string, p jsontext.Pointer) string {
	var b strings.Builder
	b.WriteString(prefix)
	for tok := range p.Tokens() {
		switch _, err := strconv.Atoi(tok); {
		case err == nil && b.Len() > 0:
			b.WriteString("[" + tok + "]")
		case b.Len() > 0:
			b.WriteString("." + tok)
		default:
			b.WriteString(tok)
		}
	}
	return b.String()
}
