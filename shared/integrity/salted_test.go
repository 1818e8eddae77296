package integrity_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/canonjson"
	"function/shared/integrity"
)

// committedByHand builds docs/integrity.md §10's hashed form from its text
// alone: decode E, replace every leaf by SHA-256(HMAC-SHA256(salt, pointer)
// ‖ JCS(leaf)) in hex, canonicalize with the JCS library, prefix, hash.
func committedByHand(t *testing.T, e []byte, salt []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(e))
	dec.UseNumber()
	var doc any
	require.NoError(t, dec.Decode(&doc))
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var walk func(v any, ptr string) any
	walk = func(v any, ptr string) any {
		switch x := v.(type) {
		case map[string]any:
			if len(x) > 0 || ptr == "" { // an empty object inside E is a leaf
				for k, c := range x {
					x[k] = walk(c, ptr+"/"+esc.Replace(k))
				}
				return x
			}
		case []any:
			if len(x) > 0 {
				for i, c := range x {
					x[i] = walk(c, ptr+"/"+strconv.Itoa(i))
				}
				return x
			}
		}
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		leaf, err := jcs.Transform(raw)
		require.NoError(t, err)
		mac := hmac.New(sha256.New, salt)
		mac.Write([]byte(ptr))
		c := sha256.Sum256(append(mac.Sum(nil), leaf...))
		return hex.EncodeToString(c[:])
	}
	raw, err := json.Marshal(walk(doc, ""))
	require.NoError(t, err)
	c, err := jcs.Transform(raw)
	require.NoError(t, err)
	h := sha256.Sum256(append([]byte("auditfn-event-v2\n"), c...))
	return h[:]
}

func TestSaltedHashIsTheDocumentedConstruction(t *testing.T) {
	r := record(t)
	r.Salt = bytes.Repeat([]byte{0x5a}, integrity.SaltSize)
	for _, data := range []string{
		string(r.Data),
		`{"a":[1,{},[],{"d~/":null,"e":"\u2028\n"}],"b":{},"c":-0.5e-7,"f":true}`,
	} {
		var err error
		r.Data, err = canonjson.Transform([]byte(data))
		require.NoError(t, err)
		assert.Equal(t, hex.EncodeToString(committedByHand(t, integrity.EventCanonical(&r), r.Salt)),
			hex.EncodeToString(integrity.EventHash(&r)), "data %s", data)
	}
}

// Data that is not JSON (a tampered archive copy) still hashes, to a value
// that is not the event's.
func TestSaltedHashOfCorruptedDataIsAHashStill(t *testing.T) {
	r := record(t)
	r.Salt = bytes.Repeat([]byte{1}, integrity.SaltSize)
	good := integrity.EventHash(&r)
	r.Data = []byte(`{"a":`)
	bad := integrity.EventHash(&r)
	require.Len(t, bad, integrity.HashSize)
	assert.NotEqual(t, good, bad)
}

// An array and an object with the same pointers are different events.
func TestSaltedHashBindsTheShape(t *testing.T) {
	r := record(t)
	r.Salt = bytes.Repeat([]byte{1}, integrity.SaltSize)
	r.Data = []byte(`{"a":["x"]}`)
	asArray := integrity.EventHash(&r)
	r.Data = []byte(`{"a":{"0":"x"}}`)
	assert.NotEqual(t, asArray, integrity.EventHash(&r))
	r.Data = []byte(`{"a":{}}`)
	asObject := integrity.EventHash(&r)
	r.Data = []byte(`{"a":[]}`)
	assert.NotEqual(t, asObject, integrity.EventHash(&r), "empty object and empty array")
}

func TestMapLeavesVisitsEveryLeafOnce(t *testing.T) {
	doc := []byte(`{"a":"x","b":{"c":[1,{},[],{"d~/":null}],"e":{}},"f":true}`)
	var got []string
	out, err := integrity.MapLeaves(doc, func(ptr, leaf []byte) ([]byte, error) {
		got = append(got, string(ptr)+"="+string(leaf))
		return []byte(`0`), nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"/a=\"x\"", "/b/c/0=1", "/b/c/1={}", "/b/c/2=[]", "/b/c/3/d~0~1=null", "/b/e={}", "/f=true"}, got)
	assert.Equal(t, `{"a":0,"b":{"c":[0,0,0,{"d~/":0}],"e":0},"f":0}`, string(out))
	_, err = integrity.MapLeaves([]byte(`[1]`), func(ptr, leaf []byte) ([]byte, error) { return leaf, nil })
	assert.ErrorIs(t, err, integrity.ErrNotObject)
}

// Mapping every leaf to itself gives the document back, whatever canonical
// object it is.
func FuzzMapLeaves(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":[]}],"c~":{"/":"\u0000"}}`))
	f.Add([]byte(`{"":{"":[[],[{}]]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		doc, err := canonjson.Transform(in)
		if err != nil || len(doc) == 0 || doc[0] != '{' {
			return
		}
		out, err := integrity.MapLeaves(doc, func(ptr, leaf []byte) ([]byte, error) { return leaf, nil })
		require.NoError(t, err)
		require.Equal(t, string(doc), string(out))
	})
}
