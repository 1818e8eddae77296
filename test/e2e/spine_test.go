// Package e2e runs the functions as real OS processes against the real local
// PostgreSQL, and breaks them: kill -9, SIGTERM with events buffered,
// redelivery across restarts.
package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/emitter"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/loadgen"
	"function/test/procs"
	"function/test/testenv"
)

func collector(t *testing.T, db testenv.DB, addr string) *procs.Proc {
	t.Helper()
	return procs.Start(t, procs.Binary(t, "./cmd/auditfn"), addr, map[string]string{
		"AUDITFN_FUNCTION": "collector",
		"AUDITFN_PG_DSN":   db.AppDSN,
	})
}

func emitfn(t *testing.T, sink string) *procs.Proc {
	t.Helper()
	return procs.Start(t, procs.Binary(t, "./test/cmd/emitfn"), procs.FreeAddr(t), map[string]string{
		"K_SINK":                 sink,
		"AUDITFN_EMITTER_BUFFER": "100000",
		"AUDITFN_EMITTER_BATCH":  "100",
	})
}

func emit(t *testing.T, fn *procs.Proc, eventType, rr string, n int) []string {
	t.Helper()
	resp, err := http.Get(fn.URL() + "/emit?type=" + eventType + "&rr=" + rr + "&n=" + strconv.Itoa(n))
	require.NoError(t, err)
	defer resp.Body.Close()
	var ids []string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ids))
	return ids
}

func appPool(t *testing.T, db testenv.DB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db.AppDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func assertChainIntact(t *testing.T, db testenv.DB) {
	t.Helper()
	rep, err := verify.Live(appPool(t, db), nil, nil).Verify(context.Background(), verify.Scope{})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
}

// Emit from a function process → collector process → one row per event,
// with every field as emitted.
func TestEveryEventTypeTravelsFromAFunctionToTheTable(t *testing.T) {
	db := testenv.NewDB(t)
	col := collector(t, db, procs.FreeAddr(t))
	fn := emitfn(t, col.URL())
	want := map[string]string{}
	for _, ty := range auditevent.Types() {
		want[emit(t, fn, ty, "rr-e2e", 1)[0]] = ty
	}
	require.Eventually(t, func() bool { return db.Count(t, "audit.audit_events") == int64(len(want)) }, 10*time.Second, 20*time.Millisecond)
	recs, err := auditstore.ReadRecords(context.Background(), appPool(t, db), "ORDER BY event_time")
	require.NoError(t, err)
	for _, r := range recs {
		ty := want[r.ID.String()]
		require.NotEmpty(t, ty, "stored event %s was emitted", r.ID)
		assert.Equal(t, ty, r.Type)
		assert.Equal(t, "rr-e2e", r.CorrelationID)
		assert.Equal(t, auditevent.SourceFor(fixtures.Function(ty)), r.Source)
		expected := fixtures.Event(ty, "rr-e2e", r.Time)
		assert.Equal(t, expected.Category, r.Category)
		assert.Equal(t, expected.Action, r.Action)
		assert.Equal(t, expected.Outcome, r.Outcome)
		assert.Equal(t, expected.ActorID, r.ActorID)
		assert.Equal(t, string(expected.Data), string(r.Data), "payload stored exactly")
	}
	assertChainIntact(t, db)
}

// kill -9 the collector twice while senders post; every acknowledged event is
// stored exactly once, and unacknowledged ones, retried by the load
// generator and by a real emitter, land exactly once too.
func TestCollectorCrashLosesAndDuplicatesNothing(t *testing.T) {
	db := testenv.NewDB(t)
	addr := procs.FreeAddr(t)
	col := collector(t, db, addr)
	url := "http://" + addr

	reg := prometheus.NewRegistry()
	em, err := emitter.New(emitter.Options{Sink: url, BatchSize: 50, BufferSize: 100000,
		BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var singles, batches loadgen.Report
	wg.Add(3)
	go func() {
		defer wg.Done()
		var err error
		singles, err = loadgen.Run(ctx, loadgen.Options{URL: url, Senders: 16, Requests: 150})
		assert.NoError(t, err)
	}()
	go func() {
		defer wg.Done()
		var err error
		batches, err = loadgen.Run(ctx, loadgen.Options{URL: url, Senders: 4, Requests: 40, BatchSize: 25})
		assert.NoError(t, err)
	}()
	var emitted []uuid.UUID
	go func() {
		defer wg.Done()
		seq := 0
		for range 40 {
			for _, ev := range loadgen.Batch(50, &seq) {
				em.Emit(ev)
				emitted = append(emitted, ev.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for range 2 {
		time.Sleep(300 * time.Millisecond)
		col.Kill()
		time.Sleep(200 * time.Millisecond)
		col = collector(t, db, addr)
	}
	wg.Wait()
	require.NoError(t, em.Close(ctx))

	acked := append(append(singles.Acked, batches.Acked...), emitted...)
	require.Len(t, acked, 16*150+4*40*25+40*50, "every sender finished")
	assert.Greater(t, singles.Attempts+batches.Attempts, 16*150+4*40, "the crashes forced retries")
	assert.Equal(t, int64(len(acked)), db.Count(t, "audit.audit_events"), "no event lost, none stored twice")
	assert.Equal(t, int64(len(acked)), db.Count(t, "audit.audit_events WHERE event_id = ANY($1)", acked))
	assert.Equal(t, int64(len(acked)), db.Count(t, "(SELECT DISTINCT event_id FROM audit.audit_events) d"))
	assertChainIntact(t, db)
}

// Knative scales a function to zero with SIGTERM: events still buffered (the
// collector is down at that moment) must all reach the table.
func TestScaleToZeroFlushesBufferedEvents(t *testing.T) {
	db := testenv.NewDB(t)
	addr := procs.FreeAddr(t)
	fn := emitfn(t, "http://"+addr)
	var ids []string
	for _, ty := range auditevent.Types() {
		ids = append(ids, emit(t, fn, ty, "rr-s2z", 40)...)
	}
	time.Sleep(300 * time.Millisecond) // the emitter is now retrying against a dead sink
	fn.Term()
	collector(t, db, addr)
	require.NoError(t, fn.Wait(40*time.Second), fn.Output())
	assert.Equal(t, int64(len(ids)), db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-s2z' AND event_id::text = ANY($1)", ids))
}

// The same event delivered before and after a collector restart is stored once.
func TestRedeliveryAcrossRestartIsStoredOnce(t *testing.T) {
	db := testenv.NewDB(t)
	addr := procs.FreeAddr(t)
	col := collector(t, db, addr)
	events := fixtures.Flow("rr-restart", time.Now())
	post := func() {
		req, err := auditevent.HTTPRequest(context.Background(), "http://"+addr, events)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	post()
	col.Term()
	require.NoError(t, col.Wait(30*time.Second))
	collector(t, db, addr)
	post()
	post()
	assert.Equal(t, int64(len(events)), db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-restart'"))
	assertChainIntact(t, db)
}

// Two collector replicas on one database keep one strictly ordered chain.
func TestTwoCollectorReplicasKeepOneChain(t *testing.T) {
	db := testenv.NewDB(t)
	a, b := collector(t, db, procs.FreeAddr(t)), collector(t, db, procs.FreeAddr(t))
	ctx := context.Background()
	var wg sync.WaitGroup
	reports := make([]loadgen.Report, 2)
	for i, c := range []*procs.Proc{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			reports[i], err = loadgen.Run(ctx, loadgen.Options{URL: c.URL(), Senders: 8, Requests: 100, BatchSize: 3})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(reports[0].Events()+reports[1].Events()), db.Count(t, "audit.audit_events"))
	assert.Greater(t, db.Count(t, "audit.ledger"), int64(10), "both replicas appended batches")
	assertChainIntact(t, db)
}
