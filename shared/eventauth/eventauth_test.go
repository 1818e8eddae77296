package eventauth_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/eventauth"
	"function/shared/integrity"
	"function/test/fixtures"
)

const (
	keyA = "key-a-0123456789abcdef0123456789abcdef"
	keyB = "key-b-0123456789abcdef0123456789abcdef"
)

func keys(t *testing.T, lines ...string) *eventauth.Keys {
	k, err := eventauth.Parse([]byte(strings.Join(lines, "\n")))
	require.NoError(t, err)
	return k
}

// A signed event survives the trip through a CloudEvent (what the collector
// receives); changing any attribute or the payload breaks it.
func TestSignatureCoversTheWholeEvent(t *testing.T) {
	k := keys(t, keyA)
	ev := fixtures.Event(auditevent.TypeWorkflowRetrieved, "rr-sig", time.Now())
	ev.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	k.Sign(&ev)
	got, err := auditevent.FromCloudEvent(auditevent.ToCloudEvent(ev), time.Now())
	require.NoError(t, err)
	require.NoError(t, k.Verify(&got))

	alter := map[string]func(e *auditevent.Event){
		"id":            func(e *auditevent.Event) { e.ID[0] ^= 1 },
		"source":        func(e *auditevent.Event) { e.Source += "x" },
		"type":          func(e *auditevent.Event) { e.Type = auditevent.TypeActionsListed },
		"time":          func(e *auditevent.Event) { e.Time = e.Time.Add(time.Microsecond) },
		"subject":       func(e *auditevent.Event) { e.Subject += "x" },
		"correlationId": func(e *auditevent.Event) { e.CorrelationID = "rr-other" },
		"category":      func(e *auditevent.Event) { e.Category = "auth" },
		"action":        func(e *auditevent.Event) { e.Action = "x" },
		"outcome":       func(e *auditevent.Event) { e.Outcome = auditevent.OutcomeFailure },
		"actorType":     func(e *auditevent.Event) { e.ActorType = "user" },
		"actorId":       func(e *auditevent.Event) { e.ActorID = "mallory" },
		"traceParent":   func(e *auditevent.Event) { e.TraceParent = "" },
		"data":          func(e *auditevent.Event) { e.Data = json.RawMessage(`{}`) },
	}
	for name, f := range alter {
		e := got
		f(&e)
		assert.ErrorContains(t, k.Verify(&e), "altered or forged", name)
	}
}

func TestUnsignedUnknownAndMalformedSignaturesFail(t *testing.T) {
	ev := fixtures.Event(auditevent.TypeActionsListed, "rr-sig", time.Now())
	assert.ErrorContains(t, keys(t, keyA).Verify(&ev), "not signed")
	keys(t, keyB).Sign(&ev)
	assert.ErrorContains(t, keys(t, keyA).Verify(&ev), "unknown")
	ev.Signature = "abc"
	assert.Error(t, keys(t, keyA).Verify(&ev))
}

// Rotation: senders sign with the first key; a collector listing both
// accepts events signed with either.
func TestRotation(t *testing.T) {
	old, rotated := keys(t, keyA), keys(t, keyB, "# the previous key, until every sender has the new one", keyA)
	ev := fixtures.Event(auditevent.TypeActionsListed, "rr-sig", time.Now())
	old.Sign(&ev)
	require.NoError(t, rotated.Verify(&ev))
	rotated.Sign(&ev)
	require.NoError(t, rotated.Verify(&ev))
	assert.Error(t, old.Verify(&ev))
}

func TestShortOrMissingKeysAreRefused(t *testing.T) {
	_, err := eventauth.Parse([]byte("short\n"))
	assert.ErrorContains(t, err, "line 1")
	_, err = eventauth.Parse([]byte("# nothing\n\n"))
	assert.ErrorContains(t, err, "no key")
}

// The signed bytes are the JCS form of the documented object, so an auditor
// can recompute them with any RFC 8785 library.
func TestSignedIsRFC8785OfTheDocumentedObject(t *testing.T) {
	ev := fixtures.Event(auditevent.TypeWorkflowsListed, "rr-\"quoted\"\n\u2028é", time.Now())
	doc := map[string]any{
		"action": ev.Action, "actorId": ev.ActorID, "actorType": ev.ActorType, "category": ev.Category,
		"correlationId": ev.CorrelationID, "data": json.RawMessage(ev.Data), "id": ev.ID.String(),
		"outcome": ev.Outcome, "source": ev.Source, "subject": ev.Subject,
		"time": ev.Time.UTC().Format(integrity.TimeLayout), "traceParent": ev.TraceParent, "type": ev.Type,
	}
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	want, err := jcs.Transform(raw)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(eventauth.Signed(&ev)))
}

// FuzzVerify feeds arbitrary key files and signature values: parsing and
// checking never panic, a parsed key file signs what it verifies, and an
// arbitrary signature value is accepted only if it is the real one.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(keyA+"\n# old\n"+keyB), "abc:def")
	f.Add([]byte("short"), "")
	f.Add([]byte("\n\n"+keyB+"\r\n"), ":")
	f.Add([]byte(keyA+"\x00\n"+keyB+"\xff"), "a\x00b:\xff\xc0\x80")
	ev := fixtures.Event(auditevent.TypeActionsListed, "rr-fuzz", time.Now())
	f.Fuzz(func(t *testing.T, file []byte, sig string) {
		k, err := eventauth.Parse(file)
		if err != nil {
			return
		}
		signed := ev
		k.Sign(&signed)
		if err := k.Verify(&signed); err != nil {
			t.Fatalf("a key file does not verify its own signature: %v", err)
		}
		forged := ev
		forged.Signature = sig
		if sig != signed.Signature && k.Verify(&forged) == nil {
			t.Fatalf("accepted signature %q", sig)
		}
	})
}
