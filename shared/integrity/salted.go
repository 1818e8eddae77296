package integrity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// SaltSize is the size of an event's salt (audit_events.event_salt).
const SaltSize = 32

// committedPrefix separates the salted event hash (docs/integrity.md §10)
// from the plain one, whose input starts with '{'.
const committedPrefix = "auditfn-event-v2\n"

// CommittedHash is the salted event hash of C, the event whose every leaf
// is replaced by its commitment: SHA-256("auditfn-event-v2\n" ‖ C).
func CommittedHash(c []byte) []byte {
	h := sha256.New()
	io.WriteString(h, committedPrefix)
	h.Write(c)
	return h.Sum(nil)
}

// SaltedHash is the salted event hash of E (docs/integrity.md §10): the
// hash of E whose every leaf is replaced by its commitment under salt.
// Content that is not a JSON object (a corrupted row, a tampered copy)
// has no leaves to commit to; it hashes as if it were its own committed
// form, which no stored event hash is, so it is reported as altered.
func SaltedHash(e, salt []byte) []byte {
	salts := NewSalts(salt)
	var fieldSalt, val []byte
	m := mappers.Get().(*mapper)
	defer mappers.Put(m)
	err := m.run(e, func(ptr, leaf []byte) ([]byte, error) {
		fieldSalt = salts.AppendOf(fieldSalt[:0], ptr)
		val = AppendCommitmentValue(val[:0], Commitment(fieldSalt, leaf))
		return val, nil
	})
	if err != nil {
		return CommittedHash(e)
	}
	return CommittedHash(m.out) // hashed in place: C is not kept
}

// Salts derives an event's field salts from its salt:
// HMAC-SHA256(salt, JSON Pointer). A field salt shows that one value; the
// event salt, which would show every value, stays in the store.
type Salts struct{ mac hash.Hash }

// NewSalts keys the derivation with an event's salt.
func NewSalts(salt []byte) *Salts { return &Salts{mac: hmac.New(sha256.New, salt)} }

// AppendOf appends the field salt of the leaf at ptr to b.
func (s *Salts) AppendOf(b, ptr []byte) []byte {
	s.mac.Reset()
	s.mac.Write(ptr)
	return s.mac.Sum(b)
}

// Commitment is SHA-256(field salt ‖ the leaf's canonical bytes): what
// stands for the leaf in the hashed form, and what a redacted bundle shows
// in its place.
func Commitment(fieldSalt, leaf []byte) [HashSize]byte {
	// One buffer on the stack for most leaves: sha256.New would allocate.
	return sha256.Sum256(append(append(make([]byte, 0, 128), fieldSalt...), leaf...))
}

// AppendCommitmentValue appends a commitment as it appears in C: a JSON
// string of lower-case hex.
func AppendCommitmentValue(b []byte, c [HashSize]byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, c[:])
	return append(b, '"')
}

// ErrNotObject means MapLeaves was given JSON that is not an object.
var ErrNotObject = errors.New("not a JSON object")

// MapLeaves rewrites the canonical JSON object doc, replacing each leaf by
// what fn returns for it. A leaf is a string, number, boolean or null, or an
// empty object or array; fn gets its RFC 6901 JSON Pointer and its canonical
// bytes (both valid only during the call), and returns canonical JSON. Keys,
// order and nesting are kept and copied as they are, so the result is
// canonical too.
func MapLeaves(doc []byte, fn func(ptr, leaf []byte) ([]byte, error)) ([]byte, error) {
	m := mappers.Get().(*mapper)
	defer mappers.Put(m)
	if err := m.run(doc, fn); err != nil {
		return nil, err
	}
	return bytes.Clone(m.out), nil
}

// A mapper is reused: allocating a decoder took most of the time of a
// salted hash. It writes the output itself, and keeps the pointer of the
// current position, which jsontext would rebuild for every leaf.
type mapper struct {
	in     bytes.Reader
	dec    jsontext.Decoder
	out    []byte
	ptr    []byte  // JSON Pointer of the current container
	frames []frame // one per open container
}

type frame struct {
	array bool
	n     int // members or elements written
	base  int // len(ptr) at the container
}

var mappers = sync.Pool{New: func() any { return new(mapper) }}

func (m *mapper) run(doc []byte, fn func(ptr, leaf []byte) ([]byte, error)) error {
	m.in.Reset(doc)
	m.dec.Reset(&m.in)
	m.out, m.ptr, m.frames = m.out[:0], m.ptr[:0], m.frames[:0]
	dec := &m.dec
	if dec.PeekKind() != '{' {
		return ErrNotObject
	}
	for {
		kind := dec.PeekKind()
		var top *frame
		if len(m.frames) > 0 {
			top = &m.frames[len(m.frames)-1]
		}
		switch {
		case kind == 0:
			if _, err := dec.ReadToken(); err != io.EOF {
				return err
			}
			return nil
		case kind == '}' || kind == ']':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			m.out = append(m.out, byte(kind))
			m.ptr = m.ptr[:top.base]
			m.frames = m.frames[:len(m.frames)-1]
			continue
		case top != nil && !top.array && isName(dec):
			name, err := dec.ReadValue()
			if err != nil {
				return err
			}
			m.comma(top)
			m.out = append(append(m.out, name...), ':')
			m.ptr = appendPointerName(append(m.ptr[:top.base], '/'), name)
			continue
		}
		if top != nil && top.array {
			m.comma(top)
			m.ptr = strconv.AppendInt(append(m.ptr[:top.base], '/'), int64(top.n-1), 10)
		}
		if kind == '{' || kind == '[' {
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			if next := dec.PeekKind(); top == nil || (next != '}' && next != ']') {
				m.out = append(m.out, byte(kind))
				m.frames = append(m.frames, frame{array: kind == '[', base: len(m.ptr)})
				continue
			}
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			if err := m.leaf(fn, []byte{byte(kind), byte(kind) + 2}); err != nil { // {} or []
				return err
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if err := m.leaf(fn, v); err != nil {
			return err
		}
	}
}

// comma separates a container's members or elements.
func (m *mapper) comma(f *frame) {
	if f.n > 0 {
		m.out = append(m.out, ',')
	}
	f.n++
}

func (m *mapper) leaf(fn func(ptr, leaf []byte) ([]byte, error), v []byte) error {
	r, err := fn(m.ptr, v)
	if err != nil {
		return err
	}
	m.out = append(m.out, r...)
	return nil
}

// appendPointerName appends an object member's name, given as a JSON
// string, as an RFC 6901 reference token: unescaped, then '~' as "~0" and
// '/' as "~1".
func appendPointerName(b, quoted []byte) []byte {
	name := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		name, _ = jsontext.AppendUnquote(nil, quoted) // the decoder accepted it
	}
	for _, c := range name {
		switch c {
		case '~':
			b = append(b, '~', '0')
		case '/':
			b = append(b, '~', '1')
		default:
			b = append(b, c)
		}
	}
	return b
}

// isName tells whether the decoder's next token is an object member's name.
func isName(dec *jsontext.Decoder) bool {
	kind, n := dec.StackIndex(dec.StackDepth())
	return kind == '{' && n%2 == 0
}
