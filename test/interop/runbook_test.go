package interop

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/functions/blockclear"
	"function/functions/collector"
	"function/functions/query"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/emitter"
)

// The runbook's values (docs/audit-queries.md).
const (
	runbookDoc = "docs/audit-queries.md"
	trinoDDL   = "infra/trino/create_table.sql"

	wfScale   = "3b2c0e1d-7a4f-5c8e-9d6b-0f1e2a3b4c5d"
	wfRestart = "9e8d7c6b-5a49-5382-8716-0f1e2d3c4b5a"
	wfDrain   = "c4d5e6f7-0819-5a2b-8c3d-4e5f60718293"
)

// docBlock is one fenced code block: ```lang tag.
type docBlock struct {
	line       int
	lang, tag  string
	engine     string // api, duckdb, trino; "" for setup
	name, code string
}

// docBlocks reads every fenced block of the runbook; each must be tagged
// setup or engine:name.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	f, err := os.Open(runbookDoc)
	require.NoError(t, err)
	defer f.Close()
	var (
		blocks []docBlock
		cur    *docBlock
		code   strings.Builder
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			fields := strings.Fields(strings.TrimPrefix(line, "```"))
			require.Len(t, fields, 2, "%s:%d: a block needs a language and a tag (setup or engine:name)", runbookDoc, n)
			cur = &docBlock{line: n, lang: fields[0], tag: fields[1]}
			if engine, name, ok := strings.Cut(cur.tag, ":"); ok {
				cur.engine, cur.name = engine, name
				require.Equal(t, map[string]string{"api": "sh", "duckdb": "sql", "trino": "sql"}[engine], cur.lang, "%s:%d: language of %s", runbookDoc, n, cur.tag)
			} else {
				require.Equal(t, "setup", cur.tag, "%s:%d", runbookDoc, n)
			}
			code.Reset()
		case cur != nil && line == "```":
			cur.code = code.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			code.WriteString(line + "\n")
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "unclosed block")
	return blocks
}

// seeded is an event of the runbook's trail with its payload decoded.
type seeded struct {
	auditevent.Event
	data map[string]any
}

func (s seeded) str(path ...string) string {
	var v any = s.data
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	str, _ := v.(string)
	return str
}

func (s seeded) at() string { return s.Time.UTC().Format(time.RFC3339Nano) }

// runbookTrail is the data set the runbook's examples are written against:
// six remediations and three block clearances of October and November 2026
// (archived), and one remediation and one clearance of yesterday (hot).
func runbookTrail(t *testing.T) []auditevent.Event {
	t.Helper()
	type wf struct{ id, name, action, version, hash string }
	scale := wf{wfScale, "scale-conservative", "ScaleReplicas", "1.2.0", "sha256:5e1f"}
	restart := wf{wfRestart, "restart-pods-rolling", "RestartPod", "2.0.1", "sha256:9ac4"}
	drain := wf{wfDrain, "drain-node-safely", "DrainNode", "1.0.0", "sha256:0d7b"}
	signal := auditevent.SignalContext{
		Severity: "critical", Component: "apps/v1/Deployment", Environment: "production", Priority: "P1", Cluster: "prod-eu-1",
		CustomLabels: map[string][]string{"team": {"payments"}}, DetectedLabels: map[string]any{"gitOpsManaged": true, "gitOpsTool": "argocd"},
	}
	hapi := auditevent.Actor{Type: "service", ID: "holmesgpt-api"}
	var out []auditevent.Event
	add := func(fn string, p auditevent.Payload, actor auditevent.Actor, at time.Time) {
		ev, err := auditevent.New(fn, p, actor, at)
		require.NoError(t, err)
		out = append(out, ev)
	}
	page := auditevent.Pagination{Offset: 0, Limit: 10, TotalCount: 2}
	listed := func(rr string, at time.Time, w wf) {
		add("actions", auditevent.ActionsListed{RemediationID: rr, SignalContext: signal, ResultCount: 2,
			ActionTypes: []string{"RestartPod", "ScaleReplicas"}, Pagination: page, QueryDurationMs: 0.41}, hapi, at)
		add("workflows", auditevent.WorkflowsListed{RemediationID: rr, SignalContext: signal, ActionType: w.action, ResultCount: 1,
			ActionTypes: []string{w.action}, Pagination: auditevent.Pagination{Limit: 10, TotalCount: 1}, QueryDurationMs: 0.73,
			Workflows: []auditevent.ListedWorkflow{{WorkflowID: w.id, WorkflowName: w.name, Version: w.version, Title: w.name,
				Description: "", Labels: map[string]any{"severity": []string{"critical"}}, Owner: "platform-team",
				Maintainer: "oncall@example.com", ContentHash: w.hash, Rank: 1, FinalScore: 0.6}}}, hapi, at.Add(1200*time.Millisecond))
	}
	retrieved := func(rr string, at time.Time, w wf, gate string) {
		p := auditevent.WorkflowRetrieved{RemediationID: rr, WorkflowID: w.id, SignalContext: signal, SecurityGateResult: gate, QueryDurationMs: 0.22}
		if gate == auditevent.GatePass { // as functions/workflow records it: a failed gate names nothing
			p.WorkflowName, p.ActionType, p.Version, p.ContentHash, p.ParameterCount = w.name, w.action, w.version, w.hash, 2
		}
		add("workflow", p, hapi, at)
	}
	validated := func(rr string, at time.Time, w wf, gate, result string) {
		p := auditevent.SelectionValidated{RemediationID: rr, WorkflowID: w.id, SignalContext: signal, SecurityGateResult: gate,
			ValidationResult: result, QueryDurationMs: 0.35, ParameterValidation: auditevent.ParameterValidation{ValidationErrors: []string{}}}
		if gate == auditevent.GatePass { // as functions/validate records it: a failed gate checks no parameters
			p.WorkflowName, p.ActionType, p.Version = w.name, w.action, w.version
			p.ParameterValidation = auditevent.ParameterValidation{TotalParameters: 2, RequiredProvided: 1, OptionalProvided: 1, ValidationErrors: []string{}}
		}
		if result == auditevent.Invalid && gate == auditevent.GatePass {
			p.ParameterValidation.RequiredProvided = 0
			p.ParameterValidation.ValidationErrors = []string{"TARGET_REPLICAS: required"}
		}
		add("validate", p, hapi, at)
	}
	cleared := func(rr, ns string, at time.Time, by, reason string) {
		uid := fmt.Sprintf("0b6e9a7c-%04d-4c2d-9e3f-2a1b3c4d5e6f", len(out))
		at = at.Truncate(time.Second) // the API server stores whole seconds
		p := auditevent.BlockCleared{
			WorkflowExecution: auditevent.ObjectRef{Namespace: ns, Name: "wfe-" + rr, UID: uid}, WorkflowID: wfScale,
			TargetResource: ns + "/Deployment/api", ClearedBy: by, ClearedByUID: "u-" + by[:3],
			ClearedByGroups: []string{"sre", "system:authenticated"}, ClearReason: reason, ClearMethod: "StatusField", ClearedAt: at,
			PreviousFailure: auditevent.PreviousFailure{Reason: "TaskFailed", FailedAt: at.Add(-time.Hour)}, RemediationRequest: rr,
		}
		ev, err := auditevent.NewWithID(blockclear.EventID(uid, at), "blockclear", p, auditevent.Actor{Type: "user", ID: by}, at)
		require.NoError(t, err)
		out = append(out, ev)
	}
	day := func(m time.Month, d, h, min int) time.Time {
		return time.Date(2026, m, d, h, min, 7, 318_204_000, time.UTC)
	}
	s := time.Second

	// An out-of-context workflow before November: outside the month.
	at := day(time.October, 28, 22, 41)
	listed("rr-2026-10-28-0011", at, drain)
	retrieved("rr-2026-10-28-0011", at.Add(3*s), drain, auditevent.GateFail)

	// The plain flow of §1.
	at = day(time.November, 3, 14, 2)
	listed("rr-2026-11-03-0042", at, scale)
	retrieved("rr-2026-11-03-0042", at.Add(3*s), scale, auditevent.GatePass)
	validated("rr-2026-11-03-0042", at.Add(5*s), scale, auditevent.GatePass, auditevent.Valid)

	// Parameters refused once: a failure outcome that is no gate failure.
	at = day(time.November, 12, 9, 15)
	listed("rr-2026-11-12-0007", at, scale)
	retrieved("rr-2026-11-12-0007", at.Add(3*s), scale, auditevent.GatePass)
	validated("rr-2026-11-12-0007", at.Add(5*s), scale, auditevent.GatePass, auditevent.Invalid)
	validated("rr-2026-11-12-0007", at.Add(9*s), scale, auditevent.GatePass, auditevent.Valid)
	cleared("rr-2026-11-12-0007", "payments", day(time.November, 12, 11, 30), "alice@example.com", "replica limit raised in PR 4711")

	// First pick out of context, then a workflow that passes.
	at = day(time.November, 12, 17, 40)
	listed("rr-2026-11-12-0019", at, restart)
	retrieved("rr-2026-11-12-0019", at.Add(3*s), drain, auditevent.GateFail)
	retrieved("rr-2026-11-12-0019", at.Add(6*s), restart, auditevent.GatePass)
	validated("rr-2026-11-12-0019", at.Add(8*s), restart, auditevent.GatePass, auditevent.Valid)

	// The gate fails at validation.
	at = day(time.November, 20, 3, 5)
	listed("rr-2026-11-20-0003", at, scale)
	retrieved("rr-2026-11-20-0003", at.Add(3*s), scale, auditevent.GatePass)
	validated("rr-2026-11-20-0003", at.Add(5*s), scale, auditevent.GateFail, auditevent.Invalid)
	cleared("rr-2026-11-20-0003", "payments", day(time.November, 20, 8, 0), "bob@example.com", "signal context corrected, rerun approved")
	cleared("rr-2026-11-20-0099", "checkout", day(time.November, 20, 9, 0), "carol@example.com", "checkout freeze lifted by change board")

	at = day(time.November, 20, 16, 12)
	listed("rr-2026-11-20-0051", at, drain)
	retrieved("rr-2026-11-20-0051", at.Add(3*s), drain, auditevent.GateFail)

	// Yesterday: still hot, seen by the API only.
	at = archivetest.DaysAgo(1).Add(10*time.Hour + 7*time.Minute + 318204*time.Microsecond)
	rr := "rr-" + at.Format(time.DateOnly) + "-0100"
	listed(rr, at, scale)
	retrieved(rr, at.Add(3*s), scale, auditevent.GatePass)
	validated(rr, at.Add(5*s), scale, auditevent.GatePass, auditevent.Valid)
	cleared(rr, "payments", at.Add(2*time.Hour), "alice@example.com", "node pool replaced, safe to run again")
	return out
}

// seedThroughCollector sends evs with the emitter to a collector storing
// into e's database, as the emitting functions do.
func seedThroughCollector(t *testing.T, e *archivetest.Env, evs []auditevent.Event) {
	t.Helper()
	ctx := context.Background()
	c := collector.New()
	require.NoError(t, c.Start(ctx, map[string]string{"AUDITFN_PG_DSN": e.DB.AppDSN}))
	defer func() { _ = c.Stop(ctx) }()
	srv := httptest.NewServer(http.HandlerFunc(c.Handle))
	defer srv.Close()
	em, err := emitter.New(emitter.Options{Sink: srv.URL, BatchSize: 7}) // several batches, so commits mix remediations
	require.NoError(t, err)
	for _, ev := range evs {
		em.Emit(ev)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, em.Close(closeCtx))
	require.EqualValues(t, len(evs), e.DB.Count(t, "audit.audit_events"), "every event stored")
}

// expected answers, one TSV line per row, from the seeded events an engine
// can see.
var runbookChecks = map[string]func(evs []seeded) []string{
	"flow": func(evs []seeded) []string {
		var out []string
		for _, e := range sortedBy(evs, false) {
			if e.CorrelationID == "rr-2026-11-03-0042" && strings.HasPrefix(e.Type, "workflow.catalog.") {
				out = append(out, tsv(e.at(), e.Type, e.Outcome, e.str("workflowId"), e.str("securityGateResult")))
			}
		}
		return out
	},
	"selected": func(evs []seeded) []string {
		type rem struct {
			first     string
			n         int
			validated bool
		}
		rems := map[string]*rem{}
		for _, e := range sortedBy(evs, false) {
			if e.str("workflowId") != wfScale || !isSelection(e.Type) {
				continue
			}
			r := rems[e.CorrelationID]
			if r == nil {
				r = &rem{first: e.at()}
				rems[e.CorrelationID] = r
			}
			r.n++
			r.validated = r.validated || e.Type == auditevent.TypeSelectionValidated && e.Outcome == auditevent.OutcomeSuccess
		}
		var out []string
		for _, rr := range slices.Sorted(maps.Keys(rems)) {
			r := rems[rr]
			out = append(out, tsv(rr, r.first, strconv.Itoa(r.n), strconv.FormatBool(r.validated)))
		}
		return out
	},
	"verify-flow": func([]seeded) []string { return []string{tsv("true", "true", "0")} },
	"gate-failures": func(evs []seeded) []string {
		var out []string
		for _, e := range sortedBy(evs, true) {
			if gateFailure(e) && !e.Time.Before(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
				out = append(out, tsv(e.at(), e.Type, e.CorrelationID, e.str("workflowId")))
			}
		}
		return out
	},
	"failures-per-workflow": func(evs []seeded) []string {
		return perWorkflow(evs, func(e seeded) bool { return isSelection(e.Type) && e.Outcome == auditevent.OutcomeFailure })
	},
	"gate-failures-per-workflow": func(evs []seeded) []string { return perWorkflow(evs, gateFailure) },
	"block-clearances": func(evs []seeded) []string {
		var out []string
		for _, e := range sortedBy(evs, true) {
			if e.Type == auditevent.TypeBlockCleared && e.str("workflowExecution", "namespace") == "payments" {
				out = append(out, tsv(e.at(), e.str("workflowExecution", "name"), e.str("clearedBy"), e.str("clearReason"), e.CorrelationID))
			}
		}
		return out
	},
}

func isSelection(ty string) bool {
	return ty == auditevent.TypeWorkflowRetrieved || ty == auditevent.TypeSelectionValidated
}

func gateFailure(e seeded) bool {
	return isSelection(e.Type) && e.Outcome == auditevent.OutcomeFailure && e.str("securityGateResult") == auditevent.GateFail
}

// perWorkflow counts November's events that keep selects, per workflow id.
func perWorkflow(evs []seeded, keep func(seeded) bool) []string {
	counts := map[string]int{}
	for _, e := range evs {
		if keep(e) && e.Time.Year() == 2026 && e.Time.Month() == time.November {
			counts[e.str("workflowId")]++
		}
	}
	var out []string
	for _, wf := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, tsv(wf, strconv.Itoa(counts[wf])))
	}
	return out
}

func sortedBy(evs []seeded, desc bool) []seeded {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b seeded) int {
		c := cmp.Or(a.Time.Compare(b.Time), bytes.Compare(a.ID[:], b.ID[:]))
		if desc {
			return -c
		}
		return c
	})
	return out
}

func tsv(cols ...string) string { return strings.Join(cols, "\t") }

// sqlLines runs a query and renders its rows as TSV lines, times in UTC
// RFC 3339 as the API writes them.
func sqlLines(t *testing.T, conn *sql.Conn, query string) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), query)
	require.NoError(t, err, query)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case time.Time:
				cells[i] = v.UTC().Format(time.RFC3339Nano)
			case []byte:
				cells[i] = hex.EncodeToString(v)
			case nil:
				cells[i] = "NULL"
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		out = append(out, tsv(cells...))
	}
	require.NoError(t, rows.Err())
	return out
}

// trinoView is the DDL's table as a DuckDB view over the download: the
// columns and types of infra/trino/create_table.sql, nothing else.
func trinoView(t *testing.T, src string) string {
	t.Helper()
	ddl, err := os.ReadFile(trinoDDL)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS auditfn_archive\.audit\.audit_events \((.*?)\n\)\s*WITH`).FindSubmatch(ddl)
	require.NotNil(t, m, "the table definition in %s", trinoDDL)
	types := map[string]string{"varchar": "VARCHAR", "timestamp(6)": "TIMESTAMP", "bigint": "BIGINT", "integer": "INTEGER", "varbinary": "BLOB", "date": "DATE"}
	var cols, names []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(m[1])), "\n") {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ","))
		require.Len(t, f, 2, "column line %q", line)
		ty, ok := types[f[1]]
		require.True(t, ok, "Trino type %s has no DuckDB counterpart here", f[1])
		cols = append(cols, fmt.Sprintf("CAST(%s AS %s) AS %s", f[0], ty, f[0]))
		names = append(names, f[0])
	}
	require.ElementsMatch(t, auditstore.Columns, names, "the DDL declares the archive's columns")
	return "CREATE VIEW auditfn_archive.audit.audit_events AS SELECT " + strings.Join(cols, ", ") + " FROM " + src
}

// TestAuditRunbookExamples runs every example of docs/audit-queries.md
// against a trail seeded through the emitter and the collector, archived by
// the compactor: the API examples with curl and jq against the query
// function, the DuckDB examples on the downloaded archive, the Trino
// examples in DuckDB on a view with the Trino DDL's columns (there is no
// Trino here; §6 of the runbook says what that does not cover).
func TestAuditRunbookExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the API examples need %s", tool)
	}
	blocks := docBlocks(t)
	used := map[string]bool{}
	for _, b := range blocks {
		if b.name == "setup" {
			require.Equal(t, "duckdb", b.engine, "%s:%d: only DuckDB has a setup that is run", runbookDoc, b.line)
		}
		if b.engine == "" || b.name == "setup" {
			continue
		}
		require.Contains(t, []string{"api", "duckdb", "trino"}, b.engine, "%s:%d", runbookDoc, b.line)
		require.Contains(t, runbookChecks, b.name, "%s:%d: no check for example %q", runbookDoc, b.line, b.name)
		used[b.name] = true
	}
	for name := range runbookChecks {
		assert.True(t, used[name], "check %q has no example in %s", name, runbookDoc)
	}

	ctx := context.Background()
	e := archivetest.New(t)
	trail := runbookTrail(t)
	seedThroughCollector(t, e, trail)
	rep, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	cutoff := archivetest.DaysAgo(archive.DefaultHotDays)
	var all, archived []seeded
	for _, ev := range trail {
		s := seeded{Event: ev}
		require.NoError(t, json.Unmarshal(ev.Data, &s.data))
		all = append(all, s)
		if ev.Time.Before(cutoff) {
			archived = append(archived, s)
		}
	}
	require.Len(t, rep.Days, 4, "the four October and November days")
	for _, d := range rep.Days {
		require.True(t, d.Dropped, "%v: the API reads this day from the archive", d)
	}
	require.Less(t, len(archived), len(all), "yesterday stays hot")

	dir := t.TempDir()
	download(t, e, dir)
	src := "read_parquet('" + filepath.ToSlash(dir) + "/audit_events/*/*.parquet', hive_partitioning = true)"
	duckConn := func() *sql.Conn {
		c, err := duck(t).Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// DuckDB: the runbook's setup, run where the download is.
	ddb := duckConn()
	_, err = ddb.ExecContext(ctx, "SET file_search_path = '"+filepath.ToSlash(dir)+"'")
	require.NoError(t, err)
	setups := 0
	for _, b := range blocks {
		if b.engine == "duckdb" && b.name == "setup" {
			_, err := ddb.ExecContext(ctx, b.code)
			require.NoError(t, err, "%s:%d", runbookDoc, b.line)
			setups++
		}
	}
	require.Equal(t, 1, setups, "one duckdb:setup block")
	// Trino, stood in for by DuckDB.
	tdb := duckConn()
	for _, stmt := range []string{
		"SET TimeZone = 'UTC'", // Trino's timestamp(6) columns hold UTC
		"ATTACH ':memory:' AS auditfn_archive",
		"CREATE SCHEMA auditfn_archive.audit",
		"CREATE MACRO json_extract_scalar(json, path) AS json_extract_string(json, path)",
		trinoView(t, src),
	} {
		_, err := tdb.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}

	// The query API over the same database and bucket.
	tokens := filepath.Join(t.TempDir(), "tokens")
	const token = "runbook-token-0123456789abcdef"
	require.NoError(t, os.WriteFile(tokens, []byte(token+" auditor\n"), 0o600))
	settings := e.Bucket.Settings()
	settings["AUDITFN_PG_DSN"] = e.DB.AppDSN
	settings[query.SettingTokensFile] = tokens
	q := query.New()
	require.NoError(t, q.Start(ctx, settings))
	t.Cleanup(func() { _ = q.Stop(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(q.Handle))
	t.Cleanup(srv.Close)

	ran := map[string]int{}
	for _, b := range blocks {
		if b.engine == "" || b.name == "setup" {
			continue
		}
		var got, want []string
		switch b.engine {
		case "api":
			cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+b.code)
			cmd.Env = append(os.Environ(), "AUDITFN="+srv.URL, "TOKEN="+token)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "%s:%d: %s", runbookDoc, b.line, stderr.String())
			if s := strings.TrimRight(stdout.String(), "\n"); s != "" {
				got = strings.Split(s, "\n")
			}
			want = runbookChecks[b.name](all)
		case "duckdb":
			got, want = sqlLines(t, ddb, b.code), runbookChecks[b.name](archived)
		case "trino":
			got, want = sqlLines(t, tdb, b.code), runbookChecks[b.name](archived)
		}
		require.NotEmpty(t, want, "%s:%d: the trail gives example %q an answer", runbookDoc, b.line, b.name)
		assert.Equal(t, want, got, "%s:%d: %s:%s", runbookDoc, b.line, b.engine, b.name)
		ran[b.engine]++
	}
	assert.Equal(t, map[string]int{"api": 7, "duckdb": 5, "trino": 5}, ran)
}
