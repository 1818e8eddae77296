package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"function/shared/canonjson"
	"function/shared/integrity"
)

// kept are the members a redaction may not hide: what a bundle is keyed
// by and filtered on.
var kept = []string{"eventId", "correlationId"}

// Redaction is which values an export replaces by their salted commitments:
// every leaf at or below one of its RFC 6901 JSON Pointers into the event's
// canonical form (docs/integrity.md §10).
type Redaction struct{ pointers []string }

// ParseRedaction reads the export's redact parameters: JSON Pointers, each
// given alone or several separated by commas. Each must start with a
// member of the event ("/actorId", "/data/reason"), and none may hide
// eventId or correlationId.
func ParseRedaction(values []string) (Redaction, error) {
	var r Redaction
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if p == "" {
				continue
			}
			if !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
				return Redaction{}, fmt.Errorf("%q is not a JSON Pointer: invalid UTF-8 or NUL", p)
			}
			if !strings.HasPrefix(p, "/") {
				return Redaction{}, fmt.Errorf("%q is not a JSON Pointer (RFC 6901): it must start with /", p)
			}
			if err := checkEscapes(p); err != nil {
				return Redaction{}, err
			}
			top, _, _ := strings.Cut(p[1:], "/")
			if !slices.Contains(integrity.EventKeys, top) {
				return Redaction{}, fmt.Errorf("%q names no member of an event: it must start with one of /%s", p, strings.Join(integrity.EventKeys, ", /"))
			}
			if slices.Contains(kept, top) {
				return Redaction{}, fmt.Errorf("%q cannot be redacted: a bundle is keyed by eventId and correlationId", p)
			}
			r.pointers = append(r.pointers, p)
		}
	}
	return r, nil
}

// checkEscapes accepts only RFC 6901's two escapes, "~0" and "~1".
func checkEscapes(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q is not a JSON Pointer (RFC 6901): ~ must be followed by 0 or 1", p)
		}
	}
	return nil
}

// None tells whether nothing is redacted.
func (r Redaction) None() bool { return len(r.pointers) == 0 }

// covers tells whether the leaf at ptr is to be redacted.
func (r Redaction) covers(ptr []byte) bool {
	for _, p := range r.pointers {
		if len(ptr) >= len(p) && string(ptr[:len(p)]) == p && (len(ptr) == len(p) || ptr[len(p)] == '/') {
			return true
		}
	}
	return false
}

// NewEntry is the bundle line of an event: e is its canonical form, salt
// its salt (nil for an event hashed plainly), hash its event hash.
//
// A salted event with nothing to redact carries its salt. One with values
// to redact carries, for each leaf, either its field salt or, with null in
// its place, its commitment; the event salt stays in the store. A plainly
// hashed event cannot be redacted and stay checkable: if any of its values
// is to be redacted, the whole event is withheld and only its hash and
// proof are given.
func (r Redaction) NewEntry(index uint64, e, salt, hash []byte, proof [][]byte) (Entry, error) {
	out := Entry{Index: index, EventHash: hex.EncodeToString(hash), Event: e, Proof: proof}
	if salt != nil {
		out.Salt = hex.EncodeToString(salt)
	}
	if r.None() {
		return out, nil
	}
	var hidden bool
	var salts, redacted map[string]string
	var fieldSalt []byte
	var derive *integrity.Salts
	if salt != nil {
		derive = integrity.NewSalts(salt)
	}
	shown, err := integrity.MapLeaves(e, func(ptr, leaf []byte) ([]byte, error) {
		covered := r.covers(ptr)
		hidden = hidden || covered
		if derive == nil {
			return leaf, nil
		}
		fieldSalt = derive.AppendOf(fieldSalt[:0], ptr)
		if !covered {
			salts = addTo(salts, ptr, hex.EncodeToString(fieldSalt))
			return leaf, nil
		}
		c := integrity.Commitment(fieldSalt, leaf)
		redacted = addTo(redacted, ptr, hex.EncodeToString(c[:]))
		return []byte("null"), nil
	})
	switch {
	case err != nil:
		return Entry{}, err
	case !hidden:
		return out, nil
	case salt == nil:
		return Entry{Index: index, EventHash: out.EventHash, Withheld: true, Proof: proof}, nil
	}
	out.Event, out.Salt, out.Salts, out.Redacted = shown, "", salts, redacted
	return out, nil
}

func addTo(m map[string]string, ptr []byte, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[string(ptr)] = v
	return m
}

// ErrWithheld means an entry has no event to hash.
var ErrWithheld = errors.New("the event is withheld")

// Hash recomputes an entry's event hash from what it shows: the plain hash
// of its event, or the salted hash from its salt, or from its field salts
// and commitments. A withheld entry has nothing to recompute (ErrWithheld).
func (e Entry) Hash() ([]byte, error) {
	if e.Withheld {
		if e.Event != nil || e.Salt != "" || e.Salts != nil || e.Redacted != nil {
			return nil, errors.New("a withheld event shows its content")
		}
		return nil, ErrWithheld
	}
	canon, err := canonjson.Transform(e.Event)
	if err != nil {
		return nil, fmt.Errorf("the event is not JSON a hash can be computed of: %w", err)
	}
	switch {
	case e.Salt == "" && e.Salts == nil && e.Redacted == nil:
		sum := sha256.Sum256(canon)
		return sum[:], nil
	case e.Salt != "":
		if e.Salts != nil || e.Redacted != nil {
			return nil, errors.New("an event with its salt shows field salts or commitments too")
		}
		salt, err := hex.DecodeString(e.Salt)
		if err != nil || len(salt) != integrity.SaltSize {
			return nil, fmt.Errorf("the salt %q is not %d bytes of hex", e.Salt, integrity.SaltSize)
		}
		if canon[0] != '{' {
			return nil, integrity.ErrNotObject
		}
		return integrity.SaltedHash(canon, salt), nil
	}
	used := 0
	c, err := integrity.MapLeaves(canon, func(ptr, leaf []byte) ([]byte, error) {
		used++
		if h, ok := e.Redacted[string(ptr)]; ok {
			if string(leaf) != "null" {
				return nil, fmt.Errorf("%s is redacted but shows a value", ptr)
			}
			return hexCommitment(h, ptr)
		}
		s, ok := e.Salts[string(ptr)]
		fieldSalt, err := hex.DecodeString(s)
		if !ok || err != nil || len(fieldSalt) != sha256.Size {
			return nil, fmt.Errorf("%s has neither a commitment nor a 32-byte hex field salt", ptr)
		}
		return integrity.AppendCommitmentValue(nil, integrity.Commitment(fieldSalt, leaf)), nil
	})
	if err != nil {
		return nil, err
	}
	if used != len(e.Redacted)+len(e.Salts) {
		return nil, errors.New("field salts or commitments name values the event does not hold")
	}
	return integrity.CommittedHash(c), nil
}

func hexCommitment(h string, ptr []byte) ([]byte, error) {
	c, err := hex.DecodeString(h)
	if err != nil || len(c) != integrity.HashSize {
		return nil, fmt.Errorf("the commitment of %s is not 32 bytes of hex", ptr)
	}
	return integrity.AppendCommitmentValue(nil, [integrity.HashSize]byte(c)), nil
}
