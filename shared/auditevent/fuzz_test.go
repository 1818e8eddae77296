package auditevent_test

import (
	"bytes"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/test/fixtures"
)

// FuzzFromCloudEvent feeds structured-mode CloudEvents to the validator: it
// must never panic, and whatever it accepts must survive a second trip
// unchanged (the stored form is a fixed point).
func FuzzFromCloudEvent(f *testing.F) {
	for _, ty := range auditevent.Types() {
		b, err := auditevent.ToCloudEvent(fixtures.Event(ty, "rr-fuzz", now)).MarshalJSON()
		require.NoError(f, err)
		f.Add(b)
		// What PostgreSQL refuses, in the envelope and in the data.
		f.Add(bytes.Replace(b, []byte(`"rr-fuzz"`), []byte(`"rr\u0000fuzz"`), 1))
		f.Add(bytes.Replace(b, []byte(`"rr-fuzz"`), []byte("\"rr\xff\xc0\x80fuzz\""), -1))
		f.Add(bytes.Replace(b, []byte(`"rr-fuzz"`), []byte(`"rr\ud800fuzz"`), -1))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e cloudevents.Event
		if e.UnmarshalJSON(raw) != nil {
			return
		}
		ev, err := auditevent.FromCloudEvent(e, now)
		if err != nil {
			return
		}
		again, err := auditevent.FromCloudEvent(auditevent.ToCloudEvent(ev), now)
		if err != nil {
			t.Fatalf("accepted event rejected on its second trip: %v", err)
		}
		if again.ID != ev.ID || string(again.Data) != string(ev.Data) || !again.Time.Equal(ev.Time) {
			t.Fatalf("second trip changed the event:\n%+v\n%+v", ev, again)
		}
		_ = auditevent.NewRecord(ev)
	})
}
