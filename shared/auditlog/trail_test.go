package auditlog_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/shared/auditlog"
	"function/shared/auditstore"
	"function/shared/bundle"
	"function/shared/verify"
)

// trailCase is a log with a remediation of at least three hot events, all
// covered by the newest checkpoint, and its events in tree order.
type trailCase struct {
	e      *archivetest.Env
	log    *auditlog.Log
	id     string
	events []auditevent.Record
}

func newTrailCase(t *testing.T) trailCase {
	e, log, _ := treeEnv(t)
	recs := e.HotRecords(t, archivetest.DaysAgo(1)) // one ledger batch
	byID := map[string][]auditevent.Record{}
	for _, r := range recs {
		byID[r.CorrelationID] = append(byID[r.CorrelationID], r)
	}
	for id, rs := range byID {
		if len(rs) >= 3 {
			slicesSortByPos(rs)
			return trailCase{e: e, log: log, id: id, events: rs}
		}
	}
	t.Fatal("no remediation with three events")
	return trailCase{}
}

func slicesSortByPos(rs []auditevent.Record) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].LedgerPos < rs[j-1].LedgerPos; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// admin runs sql as the database's owner with triggers off: a superuser
// covering their tracks.
func (c trailCase) admin(t *testing.T, sql string, args ...any) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.e.DB.AdminDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

// verify is the remediation-scoped verification.
func (c trailCase) verify(t *testing.T) verify.Report {
	rep, err := c.log.Verify(context.Background(), verify.Scope{CorrelationID: c.id})
	require.NoError(t, err)
	require.NotNil(t, rep.Trail)
	return rep
}

// bundle is the remediation's export, checked with the public key alone.
func (c trailCase) bundle(t *testing.T) verify.Report {
	var b bytes.Buffer
	require.NoError(t, c.log.Export(context.Background(), auditstore.Filter{CorrelationID: c.id}, bundle.Redaction{}, nil, &b))
	rep := verify.Bundle(&b, "", verifiers(t, c.e, c.e.Config().Origin), nil)
	require.NotNil(t, rep.Trail, "a remediation's bundle carries its trail")
	return rep
}

func findingKinds(rep verify.Report) []verify.Kind {
	var out []verify.Kind
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}

func trailKinds(rep verify.Report) (trail, elsewhere []verify.Kind) {
	for _, f := range rep.Findings {
		if f.Trail {
			trail = append(trail, f.Kind)
		} else {
			elsewhere = append(elsewhere, f.Kind)
		}
	}
	return trail, elsewhere
}

// A remediation's trail is shown complete, through its scoped verify and
// its bundle, and each way of making it incomplete is named, by both.
func TestATrailIsShownCompleteOrNamedIncomplete(t *testing.T) {
	t.Run("intact", func(t *testing.T) {
		c := newTrailCase(t)
		rep := c.verify(t)
		require.Empty(t, rep.Findings)
		assert.True(t, rep.Trail.Complete)
		assert.Equal(t, len(c.events), rep.Trail.Events)
		assert.EqualValues(t, len(c.events), rep.Trail.Committed)
		b := c.bundle(t)
		require.Empty(t, b.Findings)
		assert.True(t, b.Trail.Complete)
		assert.Equal(t, len(c.events), b.Trail.Events)

		archived := c.e.ArchivedRecords(t, archivetest.DaysAgo(10))[0].CorrelationID
		cold, err := c.log.Verify(context.Background(), verify.Scope{CorrelationID: archived})
		require.NoError(t, err)
		require.Empty(t, cold.Findings)
		assert.True(t, cold.Trail.Complete, "an archived remediation's trail, from its parts")
		assert.Positive(t, cold.Trail.Events)

		none, err := c.log.Verify(context.Background(), verify.Scope{CorrelationID: "rr-never"})
		require.NoError(t, err)
		assert.True(t, none.Trail.Complete, "a trail of no events is shown empty: the index proves the absence")
		assert.Zero(t, none.Trail.Committed)
	})

	t.Run("an event moved to another remediation", func(t *testing.T) {
		c := newTrailCase(t)
		moved := c.events[1]
		c.admin(t, `UPDATE audit.audit_events SET correlation_id = 'rr-elsewhere' WHERE event_id = $1`, moved.ID)
		rep := c.verify(t)
		trail, _ := trailKinds(rep)
		assert.False(t, rep.Trail.Complete)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, trail, "%+v", rep.Findings)
		assert.Equal(t, len(c.events)-1, rep.Trail.Events)
		assert.EqualValues(t, len(c.events), rep.Trail.Committed)
		b := c.bundle(t)
		assert.False(t, b.Trail.Complete)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, findingKinds(b), "%+v", b.Findings)
	})

	t.Run("an event deleted", func(t *testing.T) {
		c := newTrailCase(t)
		c.admin(t, `DELETE FROM audit.audit_events WHERE event_id = $1`, c.events[1].ID)
		rep := c.verify(t)
		trail, elsewhere := trailKinds(rep)
		assert.False(t, rep.Trail.Complete)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, trail, "%+v", rep.Findings)
		assert.Contains(t, elsewhere, verify.BatchCount, "the batch is named too")
		b := c.bundle(t)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, findingKinds(b), "%+v", b.Findings)
	})

	t.Run("its newest event hidden", func(t *testing.T) {
		c := newTrailCase(t)
		newest := c.events[len(c.events)-1]
		c.admin(t, `DELETE FROM audit.audit_events WHERE event_id = $1`, newest.ID)
		rep := c.verify(t)
		trail, _ := trailKinds(rep)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, trail, "%+v", rep.Findings)
		for _, f := range rep.Findings {
			if f.Kind == verify.TrailIncomplete {
				assert.Contains(t, f.Problem, "no event is stored at its newest leaf", "the hidden tail is located")
			}
		}
		b := c.bundle(t)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, findingKinds(b), "%+v", b.Findings)
	})

	t.Run("another remediation's event deleted", func(t *testing.T) {
		c := newTrailCase(t)
		var other auditevent.Record
		for _, r := range c.e.HotRecords(t, archivetest.DaysAgo(1)) {
			if r.CorrelationID != c.id && r.LedgerSeq == c.events[0].LedgerSeq {
				other = r
			}
		}
		c.admin(t, `DELETE FROM audit.audit_events WHERE event_id = $1`, other.ID)
		rep := c.verify(t)
		trail, elsewhere := trailKinds(rep)
		assert.False(t, rep.OK(), "the damage is reported")
		assert.Contains(t, elsewhere, verify.BatchCount)
		assert.Empty(t, trail, "%+v", rep.Findings)
		assert.True(t, rep.Trail.Complete, "and this trail is shown complete all the same")
		b := c.bundle(t)
		assert.Empty(t, b.Findings)
		assert.True(t, b.Trail.Complete)
	})

	t.Run("another remediation's whole batch deleted", func(t *testing.T) {
		c := newTrailCase(t)
		other := c.e.HotRecords(t, archivetest.DaysAgo(2))[0].LedgerSeq
		require.NotEqual(t, c.events[0].LedgerSeq, other)
		c.admin(t, `DELETE FROM audit.audit_events WHERE ledger_seq = $1`, other)
		rep := c.verify(t)
		assert.Empty(t, rep.Findings, "a trail shown complete needs no search of the whole ledger for emptied batches")
		assert.True(t, rep.Trail.Complete)
		whole, err := c.log.Verify(context.Background(), verify.Scope{})
		require.NoError(t, err)
		assert.Contains(t, findingKinds(whole), verify.BatchCount, "the whole verify finds the emptied batch")
	})

	t.Run("the newest ledger batch deleted", func(t *testing.T) {
		c := newTrailCase(t)
		seq := c.events[0].LedgerSeq
		c.admin(t, `DELETE FROM audit.audit_events WHERE ledger_seq = $1`, seq)
		c.admin(t, `DELETE FROM audit.ledger WHERE seq = $1`, seq)
		rep := c.verify(t)
		trail, _ := trailKinds(rep)
		assert.Equal(t, []verify.Kind{verify.TrailIncomplete}, trail, "%+v", rep.Findings)
		assert.Zero(t, rep.Trail.Events)
		whole, err := c.log.Verify(context.Background(), verify.Scope{})
		require.NoError(t, err)
		assert.Contains(t, findingKinds(whole), verify.LedgerTruncated, "%+v", whole.Findings)
	})

	t.Run("the index altered in the database", func(t *testing.T) {
		c := newTrailCase(t)
		c.admin(t, `DELETE FROM audit.trail_nodes`)
		rep := c.verify(t)
		trail, _ := trailKinds(rep)
		assert.Equal(t, []verify.Kind{verify.TrailIndex}, trail, "%+v", rep.Findings)
	})
}
