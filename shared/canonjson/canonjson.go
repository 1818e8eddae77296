// Package canonjson produces RFC 8785 (JSON Canonicalization Scheme) output:
// the byte form in which audit payloads are stored and hashed.
//
// The work is done by jsontext (the encoding/json/v2 prototype), which
// canonicalizes in one pass without allocating; this package fixes the
// choices auditfn depends on. github.com/gowebpki/jcs implements the same
// scheme and is the oracle of the differential fuzz test.
package canonjson

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Transform returns the canonical form of a JSON text. It fails on invalid
// JSON, invalid UTF-8, unpaired surrogate escapes, duplicate object keys and
// numbers outside IEEE 754 double range.
func Transform(in []byte) ([]byte, error) {
	v := jsontext.Value(bytes.Clone(in))
	if err := v.Canonicalize(); err != nil {
		return nil, err
	}
	if bytes.Contains(v, []byte("e+308")) {
		if err := checkFinite(in); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// checkFinite rejects numbers beyond the double range in valid JSON text:
// jsontext rounds them to ±1.7976931348623157e+308, which would store a
// different value than was sent. Only output holding that exponent needs it.
func checkFinite(in []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(in))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil // end of input (in was valid: Canonicalize accepted it)
		}
		if tok.Kind() == '0' {
			if _, err := strconv.ParseFloat(tok.String(), 64); err != nil {
				return errors.New("number outside IEEE 754 double range")
			}
		}
	}
}

// AppendString writes s as an RFC 8785 JSON string: only '"', '\\' and
// control characters are escaped, the latter in their short form where JSON
// has one and as lower-case \u00xx otherwise. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ = jsontext.AppendQuote(b, s) // the error only reports the U+FFFD replacement
			return b
		}
	}
	// Printable ASCII (most ids and names) needs no escaping.
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Member is one member of an object built by Object: a string value, or
// Raw JSON (already canonical) when Raw is set.
type Member struct {
	Key, Value string
	Raw        []byte
}

// Object is the canonical encoding of an object whose members are given in
// RFC 8785 order (for ASCII keys: byte order).
func Object(members []Member) []byte {
	size := 2
	for _, m := range members {
		size += len(m.Key) + len(m.Value) + len(m.Raw) + 6 // quotes, colon, comma
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, m.Key)
		b = append(b, ':')
		if m.Raw != nil {
			b = append(b, m.Raw...)
		} else {
			b = AppendString(b, m.Value)
		}
	}
	return append(b, '}')
}
