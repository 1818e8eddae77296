package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/eventauth"
	"function/shared/problem"
	"function/test/fixtures"
	"function/test/procs"
	"function/test/testenv"
)

// With sender keys configured, the collector stores what the functions'
// emitters sign and refuses, storing nothing of the request, whatever
// anybody else posts: unsigned, signed with another key, altered after
// signing, or one bad event hidden in a signed batch.
func TestOnlySignedEventsAreStored(t *testing.T) {
	const key = "e2e-sender-key-0123456789abcdef0123456789"
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "event-keys")
	require.NoError(t, os.WriteFile(keysFile, []byte(key+"\n"), 0o600))
	db := testenv.NewDB(t)
	col := procs.Start(t, procs.Binary(t, "./cmd/auditfn"), procs.FreeAddr(t), map[string]string{
		"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": db.AppDSN, eventauth.Setting: keysFile})
	fn := procs.Start(t, procs.Binary(t, "./test/cmd/emitfn"), procs.FreeAddr(t), map[string]string{
		"K_SINK": col.URL(), eventauth.Setting: keysFile})

	for _, ty := range auditevent.Types() {
		emit(t, fn, ty, "rr-signed", 1)
	}
	require.Eventually(t, func() bool {
		return db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-signed'") == int64(len(auditevent.Types()))
	}, 10*time.Second, 20*time.Millisecond)

	keys, err := eventauth.Parse([]byte(key))
	require.NoError(t, err)
	other, err := eventauth.Parse([]byte("another-key-0123456789abcdef0123456789"))
	require.NoError(t, err)
	forged := func() auditevent.Event {
		return fixtures.Event(auditevent.TypeWorkflowRetrieved, "rr-forged", time.Now())
	}
	unsigned := forged()
	otherKey := forged()
	other.Sign(&otherKey)
	altered := forged()
	keys.Sign(&altered)
	altered.ActorID = "mallory"
	var batch []auditevent.Event
	for range 3 {
		ev := forged()
		keys.Sign(&ev)
		batch = append(batch, ev)
	}
	batch = append(batch, forged())

	for name, c := range map[string]struct {
		events []auditevent.Event
		field  string
	}{
		"unsigned":           {[]auditevent.Event{unsigned}, "auditsig"},
		"another key":        {[]auditevent.Event{otherKey}, "auditsig"},
		"altered":            {[]auditevent.Event{altered}, "auditsig"},
		"one bad in a batch": {batch, "events[3].auditsig"},
	} {
		req, err := auditevent.HTTPRequest(context.Background(), col.URL(), c.events)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		var p problem.Problem
		require.NoError(t, json.Unmarshal(body, &p), name)
		require.NotEmpty(t, p.Errors, name)
		assert.Equal(t, c.field, p.Errors[0].Field, name)
	}
	assert.Zero(t, db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-forged'"))
	resp, err := http.Get(col.URL() + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(metrics), `auditfn_collector_events_total{result="unauthenticated"} 7`, "3 single forgeries and a batch of 4")
}
