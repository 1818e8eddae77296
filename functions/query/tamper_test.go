package query_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/verify"
)

// Each way of altering the hot store behind the database's guards (a
// superuser with triggers off) is reported by /verify with the culprit, and
// the untouched remediations still verify clean.
func TestTamperMatrix(t *testing.T) {
	cases := []struct {
		name    string
		sql     string
		kind    verify.Kind
		problem string
		event   bool // the finding names an event
	}{
		{"row update", `UPDATE audit.audit_events SET actor_id = 'mallory' WHERE correlation_id = 'rr-q-1' AND event_type = 'workflow.catalog.workflow_retrieved'`,
			verify.EventAltered, "event content does not match its event_hash", true},
		{"row delete", `DELETE FROM audit.audit_events WHERE correlation_id = 'rr-q-1' AND event_type = 'workflow.catalog.workflows_listed'`,
			verify.BatchCount, "batch holds 4 events, ledger says 5; no event at ledger_pos [1]", false},
		{"forged insert into the batch", `INSERT INTO audit.audit_events SELECT gen_random_uuid(), event_time, event_date, event_type, event_category,
			event_action, event_outcome, source, subject, correlation_id, actor_type, 'mallory', resource_type, resource_id, namespace, cluster_id,
			workflow_id, trace_parent, event_data, received_at, ledger_seq, 5, event_hash FROM audit.audit_events
			WHERE correlation_id = 'rr-q-1' AND ledger_pos = 4`,
			verify.BatchCount, "batch holds 6 events, ledger says 5", false},
		{"forged insert outside the chain", `INSERT INTO audit.audit_events SELECT gen_random_uuid(), event_time, event_date, event_type, event_category,
			event_action, event_outcome, source, subject, correlation_id, actor_type, 'mallory', resource_type, resource_id, namespace, cluster_id,
			workflow_id, trace_parent, event_data, received_at, 999, 0, event_hash FROM audit.audit_events
			WHERE correlation_id = 'rr-q-1' AND ledger_pos = 4`,
			verify.EventOutside, "event belongs to no ledger batch", true},
		{"reorder", `UPDATE audit.audit_events SET ledger_pos = 5 - ledger_pos WHERE correlation_id = 'rr-q-1' AND ledger_pos IN (1, 4)`,
			verify.BatchDigest, "events do not match the batch's events_digest", false},
		{"ledger rewrite", `UPDATE audit.ledger SET committed_at = committed_at + interval '1 second'
			WHERE seq = (SELECT ledger_seq FROM audit.audit_events WHERE correlation_id = 'rr-q-1' LIMIT 1)`,
			verify.BatchAltered, "batch_hash does not match its fields", false},
		{"partition drop", `DROP TABLE audit.audit_events_{day}`, // rr-q-1's day, filled in below
			verify.BatchCount, "batch holds 0 events, ledger says 5", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := start(t)
			ctx := context.Background()
			day := a.db.Scalar(t, `SELECT min(event_date)::text FROM audit.audit_events WHERE correlation_id = 'rr-q-1'`).(string)
			admin, err := pgx.Connect(ctx, a.db.AdminDSN)
			require.NoError(t, err)
			defer admin.Close(ctx)
			_, err = admin.Exec(ctx, "SET session_replication_role = replica; "+strings.ReplaceAll(c.sql, "{day}", strings.ReplaceAll(day, "-", "")))
			require.NoError(t, err)

			scopes := []url.Values{{"date": {day}}}
			if c.name != "partition drop" {
				scopes = append(scopes, url.Values{"correlation_id": {"rr-q-1"}})
			}
			for _, q := range scopes {
				status, body := a.get(t, "/api/v1/audit/verify", q)
				require.Equal(t, 200, status, string(body))
				var rep struct {
					OK       bool
					Findings []verify.Finding
				}
				require.NoError(t, json.Unmarshal(body, &rep))
				assert.False(t, rep.OK, q.Encode())
				problems := []string{} // of the findings of the case's kind
				named := false
				for _, f := range rep.Findings {
					if f.Kind == c.kind {
						problems = append(problems, f.Problem)
						named = named || f.EventID != ""
					}
				}
				assert.Contains(t, problems, c.problem, "%s: %+v", q.Encode(), rep.Findings)
				if c.event {
					assert.True(t, named, "the culprit event is named: %+v", rep.Findings)
				}
			}
			status, body := a.get(t, "/api/v1/audit/verify", url.Values{"correlation_id": {"rr-q-2"}})
			require.Equal(t, 200, status)
			if c.name == "partition drop" {
				// Batches that lost every event are reported whatever the scope.
				assert.Contains(t, string(body), c.problem)
			} else {
				assert.Contains(t, string(body), `"ok":true`, "other remediations still verify clean")
			}
		})
	}
}
