package bundle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/bundle"
	"function/shared/integrity"
)

func TestARedactionNamesMembersOfTheEvent(t *testing.T) {
	for _, bad := range []string{"actorId", "/eventId", "/correlationId", "/nothing", "/data/a~2b", "/data/\xff", "/data/a\x00"} {
		_, err := bundle.ParseRedaction([]string{bad})
		assert.Error(t, err, "%q", bad)
	}
	r, err := bundle.ParseRedaction([]string{"/actorId,/data/a~1b", "", "/data/x~0"})
	require.NoError(t, err)
	assert.False(t, r.None())
	r, err = bundle.ParseRedaction(nil)
	require.NoError(t, err)
	assert.True(t, r.None())
}

const event = `{"actorId":"alice@example.com","correlationId":"rr-1","data":{"a/b":{"c":"secret","d":[]},"ab":"kept"},"eventId":"e"}`

func TestEntriesRecomputeTheirEventHash(t *testing.T) {
	salt := bytes.Repeat([]byte{4}, integrity.SaltSize)
	salted := integrity.SaltedHash([]byte(event), salt)
	plainSum := sha256.Sum256([]byte(event))
	plain := plainSum[:]
	red, err := bundle.ParseRedaction([]string{"/actorId,/data/a~1b"})
	require.NoError(t, err)

	t.Run("salted, nothing redacted: the salt", func(t *testing.T) {
		e, err := bundle.Redaction{}.NewEntry(3, []byte(event), salt, salted, nil)
		require.NoError(t, err)
		assert.Equal(t, hex.EncodeToString(salt), e.Salt)
		assert.Equal(t, event, string(e.Event))
		h, err := e.Hash()
		require.NoError(t, err)
		assert.Equal(t, salted, h)
	})
	t.Run("salted, redacted: field salts and commitments", func(t *testing.T) {
		e, err := red.NewEntry(3, []byte(event), salt, salted, nil)
		require.NoError(t, err)
		assert.Empty(t, e.Salt, "the event salt stays in the store")
		assert.Equal(t, `{"actorId":null,"correlationId":"rr-1","data":{"a/b":{"c":null,"d":null},"ab":"kept"},"eventId":"e"}`, string(e.Event))
		assert.NotContains(t, string(e.Event), "alice")
		assert.Len(t, e.Redacted, 3)
		assert.Contains(t, e.Redacted, "/data/a~1b/c")
		assert.Contains(t, e.Redacted, "/data/a~1b/d", "an empty array is a value")
		assert.Contains(t, e.Salts, "/data/ab", "a prefix of a name is not its parent")
		assert.NotContains(t, e.Salts, "/actorId")
		h, err := e.Hash()
		require.NoError(t, err)
		assert.Equal(t, salted, h)

		shown := e
		shown.Event = bytes.Replace(e.Event, []byte(`"actorId":null`), []byte(`"actorId":"alice@example.com"`), 1)
		_, err = shown.Hash()
		assert.ErrorContains(t, err, "redacted but shows a value")
		noSalt := e
		noSalt.Salts = map[string]string{}
		for k, v := range e.Salts {
			if k != "/data/ab" {
				noSalt.Salts[k] = v
			}
		}
		_, err = noSalt.Hash()
		assert.ErrorContains(t, err, "/data/ab has neither")
		extra := e
		extra.Redacted = map[string]string{"/nowhere": e.Redacted["/actorId"]}
		for k, v := range e.Redacted {
			extra.Redacted[k] = v
		}
		_, err = extra.Hash()
		assert.Error(t, err, "a commitment for a value the event does not hold")
		altered := e
		altered.Event = bytes.Replace(e.Event, []byte(`"kept"`), []byte(`"changed"`), 1)
		h, err = altered.Hash()
		require.NoError(t, err)
		assert.NotEqual(t, salted, h)
	})
	t.Run("plain, nothing to redact: the event", func(t *testing.T) {
		r, err := bundle.ParseRedaction([]string{"/data/zzz"})
		require.NoError(t, err)
		e, err := r.NewEntry(3, []byte(event), nil, plain, nil)
		require.NoError(t, err)
		h, err := e.Hash()
		require.NoError(t, err)
		assert.Equal(t, plain, h)
	})
	t.Run("plain, values to redact: withheld", func(t *testing.T) {
		e, err := red.NewEntry(3, []byte(event), nil, plain, [][]byte{{1}})
		require.NoError(t, err)
		assert.True(t, e.Withheld)
		assert.Nil(t, e.Event)
		assert.Equal(t, hex.EncodeToString(plain), e.EventHash)
		_, err = e.Hash()
		assert.ErrorIs(t, err, bundle.ErrWithheld)
		e.Event = []byte(event)
		_, err = e.Hash()
		assert.ErrorContains(t, err, "shows its content")
	})
}

// Whatever the query says, a redaction is refused or holds only pointers
// into the event's members, and redacts a leaf only at or below one.
func FuzzParseRedaction(f *testing.F) {
	f.Add("/actorId,/data/a~1b", "/data/x")
	f.Add("/eventId", "")
	f.Add("/data/\xff,", "~")
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := bundle.ParseRedaction([]string{a, b})
		if err != nil {
			return
		}
		e, err := r.NewEntry(0, []byte(event), bytes.Repeat([]byte{1}, integrity.SaltSize), integrity.SaltedHash([]byte(event), bytes.Repeat([]byte{1}, integrity.SaltSize)), nil)
		require.NoError(t, err)
		assert.NotContains(t, e.Redacted, "/eventId")
		assert.NotContains(t, e.Redacted, "/correlationId")
		if _, err := e.Hash(); err != nil {
			t.Fatalf("a redacted entry does not recompute: %v", err)
		}
	})
}
