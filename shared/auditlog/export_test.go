package auditlog_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"function/archive"
	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/bundle"
	"function/shared/verify"
)

func verifiers(t *testing.T, e *archivetest.Env, origin string) []note.Verifier {
	s, err := archive.LoadSigner(e.KeyPath)
	require.NoError(t, err)
	vkey, err := note.NewEd25519VerifierKey(origin, s.Public())
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return []note.Verifier{v}
}

// A remediation's bundle, hot and archived events alike, checks with the
// public key alone; each way of forging one is named by its line.
func TestABundleChecksWithThePublicKeyAlone(t *testing.T) {
	e, log, _ := treeEnv(t)
	ctx := context.Background()
	origin := e.Config().Origin
	export := func(f auditstore.Filter) []byte {
		var b bytes.Buffer
		require.NoError(t, log.Export(ctx, f, bundle.Redaction{}, map[string][]string{"correlation_id": {f.CorrelationID}}, &b))
		return b.Bytes()
	}
	archived := e.ArchivedRecords(t, archivetest.DaysAgo(10))[0].CorrelationID
	for _, corr := range []string{archived, e.HotRecords(t, archivetest.DaysAgo(1))[0].CorrelationID} {
		b := export(auditstore.Filter{CorrelationID: corr})
		rep := verify.Bundle(bytes.NewReader(b), origin, verifiers(t, e, origin), nil)
		assert.Empty(t, rep.Findings)
		require.NotNil(t, rep.Trail)
		assert.True(t, rep.Trail.Complete, "the remediation's whole trail")
		n, err := log.Count(ctx, auditstore.Filter{CorrelationID: corr}, "day")
		require.NoError(t, err)
		var want int64
		for _, c := range n {
			want += c
		}
		assert.EqualValues(t, want, rep.EventsChecked, "every event of the remediation")
		assert.Greater(t, rep.EventsChecked, 1)
	}
	all := export(auditstore.Filter{})
	rep := verify.Bundle(bytes.NewReader(all), origin, verifiers(t, e, origin), nil)
	require.Empty(t, rep.Findings)
	require.Equal(t, 600, rep.EventsChecked, "paged past the first page, in bounded steps")
	assert.Nil(t, rep.Trail, "a bundle of no one trail claims no completeness")

	lines := strings.Split(strings.TrimSuffix(string(export(auditstore.Filter{CorrelationID: archived})), "\n"), "\n")
	edit := func(i int, f func(m map[string]any)) string {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &m))
		f(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		out := append([]string{}, lines...)
		out[i] = string(b)
		return strings.Join(out, "\n") + "\n"
	}
	kinds := func(bundle string, keys []note.Verifier) []verify.Kind {
		var out []verify.Kind
		for _, f := range verify.Bundle(strings.NewReader(bundle), origin, keys, nil).Findings {
			out = append(out, f.Kind)
		}
		return out
	}
	good := verifiers(t, e, origin)
	altered := edit(2, func(m map[string]any) { m["event"].(map[string]any)["outcome"] = "failure" })
	assert.Equal(t, []verify.Kind{verify.BundleEvent, verify.BundleProof, verify.TrailIncomplete}, kinds(altered, good), "one event altered")

	// An event that is not in the log, with a hash of its own: only its
	// proof can tell, and does not place it.
	forged := edit(2, func(m map[string]any) {
		m["event"].(map[string]any)["outcome"] = "failure"
		line, err := json.Marshal(m)
		require.NoError(t, err)
		var e bundle.Entry
		require.NoError(t, json.Unmarshal(line, &e))
		h, err := e.Hash()
		require.NoError(t, err)
		m["eventHash"] = hex.EncodeToString(h)
	})
	assert.Equal(t, []verify.Kind{verify.BundleProof, verify.TrailIncomplete}, kinds(forged, good), "a proof for an event not in the log")

	// The trail's entry lowered to hide an event left out: the entry's
	// proof no longer leads to the root the checkpoint signed.
	lowered := edit(0, func(m map[string]any) {
		entry := m["trail"].(map[string]any)["entry"].(map[string]any)
		entry["count"] = entry["count"].(float64) - 1
	})
	assert.Equal(t, []verify.Kind{verify.TrailIndex}, kinds(lowered, good), "a trail entry the checkpoint does not commit to")

	truncated := strings.Join(lines[:len(lines)-2], "\n") + "\n"
	assert.Equal(t, []verify.Kind{verify.BundleInvalid}, kinds(truncated, good), "cut short")

	other := archivetest.New(t)
	assert.Equal(t, []verify.Kind{verify.TreeCheckpoint}, kinds(strings.Join(lines, "\n")+"\n", verifiers(t, other, origin)), "another key")
}

// A bundle with values redacted shows none of them, still checks with the
// public key alone and shows the trail complete; putting a value back,
// altering a commitment or dropping a field salt is named by its line.
func TestARedactedBundleStaysCheckable(t *testing.T) {
	e, log, _ := treeEnv(t)
	ctx := context.Background()
	origin := e.Config().Origin
	red, err := bundle.ParseRedaction([]string{"/actorId,/data/signalContext", "/subject"})
	require.NoError(t, err)
	export := func(corr string) string {
		var b bytes.Buffer
		require.NoError(t, log.Export(ctx, auditstore.Filter{CorrelationID: corr}, red, nil, &b))
		return b.String()
	}
	check := func(b string) verify.Report {
		return verify.Bundle(strings.NewReader(b), origin, verifiers(t, e, origin), nil)
	}
	kinds := func(b string) []verify.Kind {
		var out []verify.Kind
		for _, f := range check(b).Findings {
			out = append(out, f.Kind)
		}
		return out
	}
	hot := e.HotRecords(t, archivetest.DaysAgo(1))[0]
	for _, r := range []auditevent.Record{e.ArchivedRecords(t, archivetest.DaysAgo(10))[0], hot} {
		require.NotNil(t, r.Salt, "stored with a salt")
		b := export(r.CorrelationID)
		rep := check(b)
		require.Empty(t, rep.Findings)
		require.NotNil(t, rep.Trail)
		assert.True(t, rep.Trail.Complete)
		assert.Greater(t, rep.ValuesRedacted, 2*rep.EventsChecked, "the actor, the subject and the signal context's values")
		assert.NotContains(t, b, `"`+r.ActorID+`"`)
		assert.NotContains(t, b, `"subject":"`)
		assert.NotContains(t, b, `"signalContext":{"cluster":"`, "its values, not its keys")
		assert.NotContains(t, b, `"salt":`, "no event salt leaves the store")
	}

	lines := strings.Split(strings.TrimSuffix(export(hot.CorrelationID), "\n"), "\n")
	edit := func(f func(e *bundle.Entry)) string {
		var ent bundle.Entry
		require.NoError(t, json.Unmarshal([]byte(lines[1]), &ent))
		f(&ent)
		b, err := json.Marshal(ent)
		require.NoError(t, err)
		out := append([]string{}, lines...)
		out[1] = string(b)
		return strings.Join(out, "\n") + "\n"
	}
	shown := edit(func(ent *bundle.Entry) {
		ent.Event = bytes.Replace(ent.Event, []byte(`"actorId":null`), []byte(`"actorId":"`+hot.ActorID+`"`), 1)
	})
	assert.Equal(t, []verify.Kind{verify.BundleEvent, verify.TrailIncomplete}, kinds(shown), "a redacted value shown")
	commitment := edit(func(ent *bundle.Entry) {
		c := ent.Redacted["/actorId"]
		ent.Redacted["/actorId"] = map[bool]string{true: "1", false: "0"}[c[0] == '0'] + c[1:]
	})
	assert.Equal(t, []verify.Kind{verify.BundleEvent, verify.BundleProof, verify.TrailIncomplete}, kinds(commitment), "a commitment altered")
	value := edit(func(ent *bundle.Entry) {
		ent.Event = bytes.Replace(ent.Event, []byte(`"outcome":"success"`), []byte(`"outcome":"failure"`), 1)
	})
	assert.Equal(t, []verify.Kind{verify.BundleEvent, verify.BundleProof, verify.TrailIncomplete}, kinds(value), "a shown value altered")
	salt := edit(func(ent *bundle.Entry) { delete(ent.Salts, "/outcome") })
	assert.Equal(t, []verify.Kind{verify.BundleEvent, verify.TrailIncomplete}, kinds(salt), "a field salt dropped")
	count := strings.Replace(strings.Join(lines, "\n")+"\n", `"valuesRedacted":`, `"valuesRedacted":1`, 1)
	assert.Contains(t, kinds(count), verify.BundleInvalid, "the end line's count of redacted values")
}
