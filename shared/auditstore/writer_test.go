package auditstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/integrity"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/testenv"
)

func TestWriteStoresEveryTypeWithDerivedColumns(t *testing.T) {
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)
	flow := fixtures.Flow("rr-1", at)
	res, err := w.Write(ctx, flow)
	require.NoError(t, err)
	assert.Equal(t, auditstore.Result{Stored: len(flow)}, res)

	recs, err := auditstore.ReadRecords(ctx, pool, "WHERE correlation_id = $1 ORDER BY event_time", "rr-1")
	require.NoError(t, err)
	require.Len(t, recs, len(flow))
	for i, r := range recs {
		want := flow[i]
		assert.Equal(t, want.ID, r.ID)
		assert.Equal(t, want.Type, r.Type)
		assert.Equal(t, want.Time, r.Time, "time is stored at µs precision")
		assert.Equal(t, "2026-11-20", r.EventDate.Format(time.DateOnly))
		assert.Equal(t, want.Category, r.Category)
		assert.Equal(t, want.Action, r.Action)
		assert.Equal(t, want.Outcome, r.Outcome)
		assert.Equal(t, want.Source, r.Source)
		assert.Equal(t, want.Subject, r.ResourceID)
		assert.Equal(t, want.ActorID, r.ActorID)
		assert.JSONEq(t, string(want.Data), string(r.Data))
		assert.Equal(t, integrity.EventHash(&r), r.Hash, "stored hash matches recomputation")
	}
	assert.Equal(t, "prod-eu-1", recs[0].ClusterID)
	assert.Equal(t, "6f1c2a4e-5b7d-5e8f-9a0b-1c2d3e4f5a6b", recs[2].WorkflowID)
	assert.Equal(t, "payments", recs[4].Namespace)
	assert.Equal(t, "workflowexecution", recs[4].ResourceType)
	assert.Equal(t, int64(1), db.Count(t, "pg_tables WHERE schemaname='audit' AND tablename='audit_events_20261120'"))
	verifyChain(t, pool)
}

func TestWriteIsExactlyOnceUnderConcurrentRedelivery(t *testing.T) {
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	flow := fixtures.Flow("rr-dup", time.Now())
	var wg sync.WaitGroup
	results := make([]auditstore.Result, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = w.Write(ctx, flow)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	stored, dups := 0, 0
	for _, r := range results {
		stored += r.Stored
		dups += r.Duplicates
	}
	assert.Equal(t, len(flow), stored)
	assert.Equal(t, 4*len(flow), dups)
	// A second writer (a restarted or second replica) also recognises them.
	w2, err := auditstore.NewWriter(ctx, pool, auditstore.Options{})
	require.NoError(t, err)
	defer w2.Close()
	res, err := w2.Write(ctx, append(flow, flow[0]))
	require.NoError(t, err)
	assert.Equal(t, auditstore.Result{Duplicates: len(flow) + 1}, res)
	assert.Equal(t, int64(len(flow)), db.Count(t, "audit.audit_events"))
	verifyChain(t, pool)
}

func TestConcurrentWritersKeepOneStrictChain(t *testing.T) {
	db, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	w2, err := auditstore.NewWriter(ctx, pool, auditstore.Options{MaxBatch: 7})
	require.NoError(t, err)
	defer w2.Close()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writer := w
			if i%2 == 1 {
				writer = w2
			}
			_, err := writer.Write(ctx, fixtures.Flow("rr-"+string(rune('a'+i%26))+time.Now().Format("150405.000000"), time.Now()))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(200), db.Count(t, "audit.audit_events"))
	verifyChain(t, pool)
}

func TestOldAndFutureDaysGetPartitionsOnDemand(t *testing.T) {
	db, _, w := testenv.NewWriter(t)
	ctx := context.Background()
	old := fixtures.Event(auditevent.TypeActionsListed, "rr-old", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC))
	soon := fixtures.Event(auditevent.TypeActionsListed, "rr-soon", time.Now().Add(50*time.Minute))
	_, err := w.Write(ctx, []auditevent.Event{old, soon})
	require.NoError(t, err)
	assert.Equal(t, int64(1), db.Count(t, "audit.audit_events_20240229"))
	assert.Equal(t, int64(0), db.Count(t, "pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = 'audit_events_default'"))
}

func TestAuditTablesAreAppendOnly(t *testing.T) {
	db, _, w := testenv.NewWriter(t)
	ctx := context.Background()
	_, err := w.Write(ctx, fixtures.Flow("rr-ro", time.Now()))
	require.NoError(t, err)
	day := time.Now().UTC().Format("20060102")
	statements := []string{
		"UPDATE audit.audit_events SET actor_id = 'mallory'",
		"DELETE FROM audit.audit_events",
		"TRUNCATE audit.audit_events",
		"UPDATE audit.audit_events_" + day + " SET actor_id = 'mallory'",
		"DELETE FROM audit.audit_events_" + day,
		"TRUNCATE audit.audit_events_" + day,
		"UPDATE audit.ledger SET event_count = 1",
		"DELETE FROM audit.ledger",
		"TRUNCATE audit.ledger",
		"DELETE FROM audit.event_keys",
		"TRUNCATE audit.event_keys",
	}
	for _, role := range []struct{ name, dsn string }{{"admin", db.AdminDSN}, {"app", db.AppDSN}} {
		conn, err := pgx.Connect(ctx, role.dsn)
		require.NoError(t, err)
		for _, sql := range statements {
			_, err := conn.Exec(ctx, sql)
			assert.Error(t, err, "%s: %s must fail", role.name, sql)
		}
		conn.Close(ctx)
	}
	assert.Equal(t, int64(5), db.Count(t, "audit.audit_events WHERE actor_id <> 'mallory'"))
}

// verifyChain fails the test on any integrity finding.
func verifyChain(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	rep, err := verify.Live(pool, nil, nil).Verify(context.Background(), verify.Scope{})
	require.NoError(t, err)
	require.Empty(t, rep.Findings)
	require.Positive(t, rep.EventsChecked)
}

// A partition dropped behind a running writer's back (the archive's verified
// drop) does not make late events for that day fail.
func TestLateEventForADroppedPartitionIsStored(t *testing.T) {
	db, _, w := testenv.NewWriter(t)
	ctx := context.Background()
	day := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	_, err := w.Write(ctx, []auditevent.Event{fixtures.Event(auditevent.TypeActionsListed, "rr-late-1", day)})
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `ALTER TABLE audit.audit_events DETACH PARTITION audit.audit_events_20250304; DROP TABLE audit.audit_events_20250304`)
	require.NoError(t, err)
	_, err = w.Write(ctx, []auditevent.Event{fixtures.Event(auditevent.TypeActionsListed, "rr-late-2", day.Add(time.Hour))})
	require.NoError(t, err)
	assert.Equal(t, int64(1), db.Count(t, "audit.audit_events WHERE correlation_id = 'rr-late-2'"))
}

func TestOnCommitIsToldWhatEachCommitStored(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AppDSN)
	require.NoError(t, err)
	defer pool.Close()
	var (
		mu     sync.Mutex
		stored []int
	)
	w, err := auditstore.NewWriter(ctx, pool, auditstore.Options{OnCommit: func(n int, took time.Duration) {
		assert.Positive(t, took)
		mu.Lock()
		stored = append(stored, n)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer w.Close()

	flow := fixtures.Flow("rr-commits", time.Now())
	_, err = w.Write(ctx, flow)
	require.NoError(t, err)
	_, err = w.Write(ctx, flow) // all duplicates: a commit that stores nothing
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{len(flow), 0}, stored)
}
