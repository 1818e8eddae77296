package auditevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

	"function/shared/canonjson"
	"function/shared/pgtext"
)

// Limits of SPEC §6.
const (
	MaxEventBytes = 256 << 10
	MaxJSONDepth  = 10
)

// FieldError names one invalid part of an event.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists everything wrong with an event.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) orNil() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}

// checkData validates a payload against its type and returns its canonical
// form. Field names in errors are prefixed with "data.".
func checkData(eventType string, raw []byte, errs *ValidationError) json.RawMessage {
	s, known := specs[eventType]
	if !known {
		return nil
	}
	shape := scanJSON(raw)
	if shape.depth > MaxJSONDepth {
		errs.add("data", "JSON nesting depth %d exceeds %d", shape.depth, MaxJSONDepth)
		return nil
	}
	if !shape.object {
		errs.add("data", "must be a JSON object")
		return nil
	}
	for _, k := range s.required {
		if !shape.keys[k] {
			errs.add("data."+k, "is required for %s", eventType)
		}
	}
	if err := s.decode(raw); err != nil {
		var se *jsonv2.SemanticError
		if errors.As(err, &se) && se.JSONPointer != "" && se.GoType != nil {
			errs.add(pgtext.FieldPath("data", se.JSONPointer), "must be %s, not %s", se.GoType, se.JSONKind)
		} else {
			errs.add("data", "%v", err)
		}
	}
	if len(errs.Errors) > 0 {
		return nil
	}
	canon, err := canonicalData(raw)
	if err != nil {
		errs.add("data", "%v", err)
		return nil
	}
	return canon
}

// decodeAs checks that a payload decodes into its Go type. It uses the
// encoding/json/v2 prototype: over twice as fast as encoding/json here, and
// its errors locate the value exactly (a JSON pointer).
func decodeAs[T any](raw []byte) error {
	var v T
	return jsonv2.Unmarshal(raw, &v)
}

// canonicalData is the RFC 8785 form of a payload, the form that is stored
// and hashed. It rejects duplicate keys and NUL characters, which PostgreSQL's
// jsonb cannot store faithfully.
func canonicalData(raw []byte) (json.RawMessage, error) {
	canon, err := canonjson.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("not canonicalisable JSON: %v", err)
	}
	if hasNULEscape(canon) {
		return nil, errors.New(`contains a NUL character (\u0000), which cannot be stored`)
	}
	return canon, nil
}

// hasNULEscape reports whether canonical JSON holds an escaped NUL, telling it
// apart from a literal backslash followed by "u0000".
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		n := 0
		for k := at - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = at + 1
	}
}

// shape is what one cheap pass over a JSON text tells: whether it is an
// object, its nesting depth and its top-level keys. Syntax errors are left
// to the decoders that run next.
type shape struct {
	object bool
	depth  int
	keys   map[string]bool
}

func scanJSON(b []byte) shape {
	sh := shape{keys: map[string]bool{}}
	depth, inString, escaped, start := 0, false, false, 0
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 1 && nextNonSpace(b, i+1) == ':' {
					sh.keys[unquote(b[start:i+1])] = true
				}
			}
		case c == '"':
			inString, start = true, i
		case c == '{' || c == '[':
			if depth == 0 && c == '{' {
				sh.object = true
			}
			depth++
			sh.depth = max(sh.depth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return sh
}

func nextNonSpace(b []byte, i int) byte {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return b[i]
		}
	}
	return 0
}

// unquote decodes a JSON string literal, escapes included.
func unquote(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s)
	return s
}
