// Package canonjson produces RFC 8785 (JSON Canonicalization Scheme) output:
// the byte form in which audit payloads are stored and hashed.
//
// github.com/gowebpki/jcs implements the same scheme and is the oracle of
// this package's differential fuzz test; it is not used on the hot path
// because it costs the collector more CPU than everything else per event
// (measured: about 60% of the handler's time).
package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// Transform returns the canonical form of a JSON text. It fails on invalid
// JSON, invalid UTF-8, unpaired surrogate escapes, duplicate object keys and
// numbers outside IEEE 754 double range.
func Transform(in []byte) ([]byte, error) {
	if !json.Valid(in) {
		return nil, errors.New("invalid JSON")
	}
	if !utf8.Valid(in) {
		return nil, errors.New("invalid UTF-8")
	}
	p := parser{in: in}
	out, err := p.value(make([]byte, 0, len(in)))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parser walks text already checked by json.Valid, so it only has to tell
// tokens apart, not reject bad syntax.
type parser struct {
	in  []byte
	pos int
}

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(out []byte) ([]byte, error) {
	p.skipSpace()
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out)
	case c == '[':
		return p.array(out)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return AppendString(out, s), nil
	case c == 't':
		p.pos += 4
		return append(out, "true"...), nil
	case c == 'f':
		p.pos += 5
		return append(out, "false"...), nil
	case c == 'n':
		p.pos += 4
		return append(out, "null"...), nil
	default:
		return p.number(out)
	}
}

type member struct {
	key   string
	value []byte
}

func (p *parser) object(out []byte) ([]byte, error) {
	p.pos++ // {
	var members []member
	for {
		p.skipSpace()
		if p.in[p.pos] == '}' {
			p.pos++
			break
		}
		if p.in[p.pos] == ',' {
			p.pos++
			p.skipSpace()
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		p.pos++ // :
		v, err := p.value(nil)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key, v})
	}
	slices.SortFunc(members, func(a, b member) int { return compareUTF16(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if members[i-1].key == m.key {
				return nil, fmt.Errorf("duplicate key %q", m.key)
			}
			out = append(out, ',')
		}
		out = AppendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (p *parser) array(out []byte) ([]byte, error) {
	p.pos++ // [
	out = append(out, '[')
	first := true
	for {
		p.skipSpace()
		switch p.in[p.pos] {
		case ']':
			p.pos++
			return append(out, ']'), nil
		case ',':
			p.pos++
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		var err error
		if out, err = p.value(out); err != nil {
			return nil, err
		}
	}
}

// str reads a string literal at p.pos and returns its decoded value.
func (p *parser) str() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	escaped := false
	for ; p.in[p.pos] != '"'; p.pos++ {
		if p.in[p.pos] == '\\' {
			escaped = true
			p.pos++
		}
	}
	p.pos++
	lit := p.in[start:p.pos]
	if !escaped {
		return string(lit[1 : len(lit)-1]), nil
	}
	if err := checkSurrogates(lit); err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

// checkSurrogates rejects \u escapes of unpaired UTF-16 surrogates, which
// have no Unicode value (encoding/json would quietly turn them into U+FFFD,
// and PostgreSQL's jsonb refuses them).
func checkSurrogates(lit []byte) error {
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		i++
		if lit[i] != 'u' {
			continue
		}
		r, _ := strconv.ParseUint(string(lit[i+1:i+5]), 16, 16)
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("unpaired UTF-16 surrogate in string")
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(lit) || lit[i+1] != '\\' || lit[i+2] != 'u' {
				return errors.New("unpaired UTF-16 surrogate in string")
			}
			lo, _ := strconv.ParseUint(string(lit[i+3:i+7]), 16, 16)
			if lo < 0xDC00 || lo > 0xDFFF {
				return errors.New("unpaired UTF-16 surrogate in string")
			}
			i += 6
		}
	}
	return nil
}

func (p *parser) number(out []byte) ([]byte, error) {
	start := p.pos
	for p.pos < len(p.in) && bytes.IndexByte([]byte("+-0123456789.eE"), p.in[p.pos]) >= 0 {
		p.pos++
	}
	f, err := strconv.ParseFloat(string(p.in[start:p.pos]), 64)
	if err != nil {
		return nil, fmt.Errorf("number %s: outside IEEE 754 double range", p.in[start:p.pos])
	}
	s, err := jcs.NumberToJSON(f)
	if err != nil {
		return nil, err
	}
	return append(out, s...), nil
}

// compareUTF16 orders keys by their UTF-16 code units, as RFC 8785 requires.
// For text without supplementary characters that is byte order.
func compareUTF16(a, b string) int {
	if isBMP(a) && isBMP(b) {
		return cmpStrings(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func isBMP(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xF0 { // lead byte of a 4-byte UTF-8 sequence
			return false
		}
	}
	return true
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AppendString writes s as an RFC 8785 JSON string: only '"', '\\' and
// control characters are escaped, the latter in their short form where JSON
// has one and as lower-case \u00xx otherwise. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}
