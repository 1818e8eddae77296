package auditstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/test/fixtures"
	"function/test/testenv"
)

// The namespace filter (the block clearances of a namespace) reads the
// partial namespace index of each partition, also in a generic plan, as a
// cached prepared statement may be.
func TestNamespaceFilterUsesItsIndex(t *testing.T) {
	_, pool, w := testenv.NewWriter(t)
	ctx := context.Background()
	for i := range 3 {
		_, err := w.Write(ctx, fixtures.Flow(fmt.Sprintf("rr-ns-%d", i), time.Now().UTC().Add(-time.Duration(i)*24*time.Hour)))
		require.NoError(t, err)
	}
	f := auditstore.Filter{Namespace: "payments", Types: []string{auditevent.TypeBlockCleared}}
	recs, err := auditstore.Search(ctx, pool, f, auditstore.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for _, r := range recs {
		assert.Equal(t, "payments", r.Namespace)
	}

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
	require.NoError(t, err)
	where, args := auditstore.Where(auditstore.Filter{Namespace: "payments"})
	types, values := make([]string, len(args)), make([]string, len(args))
	for i, a := range args {
		types[i], values[i] = "text", "'"+a.(string)+"'"
	}
	_, err = conn.Exec(ctx, "PREPARE q("+strings.Join(types, ",")+") AS SELECT event_id FROM audit.audit_events WHERE "+where)
	require.NoError(t, err)
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE q("+strings.Join(values, ",")+")")
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	assert.Contains(t, strings.Join(plan, "\n"), "namespace_event_time_idx")
}
