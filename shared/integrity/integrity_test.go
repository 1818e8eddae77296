package integrity_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/integrity"
	"function/test/fixtures"
)

func record(t testing.TB) auditevent.Record {
	r := auditevent.NewRecord(fixtures.Event(auditevent.TypeWorkflowsListed, "rr-\"quoted\"\n\u2028é", time.Now()))
	r.ReceivedAt = time.Now()
	return r
}

// The hand-built canonical bytes must equal what any RFC 8785 library makes
// of the same object, so auditors can recompute them with standard tools.
func TestEventCanonicalIsRFC8785OfTheDocumentedObject(t *testing.T) {
	r := record(t)
	doc := map[string]any{
		"action": r.Action, "actorId": r.ActorID, "actorType": r.ActorType, "category": r.Category,
		"clusterId": r.ClusterID, "correlationId": r.CorrelationID, "data": json.RawMessage(r.Data),
		"eventDate": r.EventDate.Format(time.DateOnly), "eventId": r.ID.String(),
		"eventTime": r.Time.Format(integrity.TimeLayout), "eventType": r.Type, "namespace": r.Namespace,
		"outcome": r.Outcome, "receivedAt": r.ReceivedAt.UTC().Format(integrity.TimeLayout),
		"resourceId": r.ResourceID, "resourceType": r.ResourceType, "source": r.Source,
		"subject": r.Subject, "traceParent": r.TraceParent, "workflowId": r.WorkflowID,
	}
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	want, err := jcs.Transform(raw)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(integrity.EventCanonical(&r)))
	assert.Equal(t, slices.Sorted(maps.Keys(doc)), integrity.EventKeys, "EventKeys are its members")
}

func TestEveryStoredFieldIsCoveredByTheHash(t *testing.T) {
	for _, salt := range [][]byte{nil, bytes.Repeat([]byte{7}, integrity.SaltSize)} {
		r := record(t)
		r.Salt = salt
		base := integrity.EventHash(&r)
		require.Len(t, base, integrity.HashSize)
		v := reflect.ValueOf(&r).Elem()
		changed := 0
		var walk func(v reflect.Value, name string)
		walk = func(v reflect.Value, name string) {
			for i := 0; i < v.NumField(); i++ {
				f, ft := v.Field(i), v.Type().Field(i)
				switch {
				case ft.Anonymous:
					walk(f, ft.Name)
					continue
				case ft.Name == "LedgerSeq" || ft.Name == "LedgerPos" || ft.Name == "Hash":
					continue // integrity columns: covered by the batch digest and chain
				case ft.Name == "Signature":
					continue // the sender's signature: checked by the collector, not stored
				}
				saved := reflect.New(f.Type()).Elem()
				saved.Set(f)
				switch x := f.Addr().Interface().(type) {
				case *string:
					*x += "x"
				case *time.Time:
					*x = x.Add(24 * time.Hour)
				case *json.RawMessage:
					*x = json.RawMessage(`{"other":1}`)
				case *[]byte: // the salt: another one, or one where there was none
					*x = bytes.Repeat([]byte{9}, integrity.SaltSize)
				default: // the uuid.UUID byte array
					f.Index(0).SetUint(f.Index(0).Uint() ^ 1)
				}
				if bytes.Equal(base, integrity.EventHash(&r)) {
					t.Errorf("salt %x: changing %s.%s does not change the hash", salt, name, ft.Name)
				}
				f.Set(saved)
				changed++
			}
		}
		walk(v, "Record")
		assert.Equal(t, 21, changed, "every stored column was tried")
		assert.Equal(t, base, integrity.EventHash(&r), "restored record hashes as before")
	}
}

func TestBatchHashChainsToItsPredecessor(t *testing.T) {
	b := integrity.Batch{Seq: 1, PrevHash: integrity.Genesis, EventCount: 2,
		EventsDigest: integrity.EventsDigest([][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}),
		CommittedAt:  time.Date(2026, 11, 23, 1, 2, 3, 456789000, time.UTC)}
	integrity.Seal(&b)
	assert.Equal(t, `{"committedAt":"2026-11-23T01:02:03.456789Z","eventCount":2,"eventsDigest":"`+
		hex.EncodeToString(b.EventsDigest)+`","prevHash":"`+hex.EncodeToString(integrity.Genesis)+`","seq":1}`, string(integrity.BatchCanonical(&b)))
	swapped := b
	swapped.EventsDigest = integrity.EventsDigest([][]byte{bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32)})
	integrity.Seal(&swapped)
	assert.NotEqual(t, b.Hash, swapped.Hash, "order of events matters")
}

func FuzzCanonicalStringMatchesJCS(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x01\x1f\x7f", "\u2028\u2029", "é😀", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := auditevent.Record{}
		r.Data = json.RawMessage(`{}`)
		r.ActorID = s
		raw, err := json.Marshal(map[string]string{"v": s})
		require.NoError(t, err)
		want, err := jcs.Transform(raw)
		require.NoError(t, err)
		got := integrity.EventCanonical(&r)
		// the actorId value sits between `"actorId":` and `,"actorType"`
		start := bytes.Index(got, []byte(`"actorId":`)) + len(`"actorId":`)
		end := bytes.Index(got, []byte(`,"actorType"`))
		assert.Equal(t, string(want[len(`{"v":`):len(want)-1]), string(got[start:end]))
	})
}

func BenchmarkEventHash(b *testing.B) {
	r := record(b)
	b.ReportAllocs()
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			integrity.EventHash(&r)
		}
	})
	r.Salt = bytes.Repeat([]byte{7}, integrity.SaltSize)
	b.Run("salted", func(b *testing.B) {
		for b.Loop() {
			integrity.EventHash(&r)
		}
	})
}
