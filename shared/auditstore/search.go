package auditstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"function/shared/auditevent"
)

// Filter selects events for the query API (SPEC §8). Zero fields select all.
type Filter struct {
	// EventID and Source name one event (both, or EventID alone).
	EventID       uuid.UUID
	Source        string
	CorrelationID string
	// Types are exact event types or prefixes ending in "*".
	Types      []string
	Category   string
	Outcome    string
	WorkflowID string
	Namespace  string // of the WorkflowExecution a block clearance names
	ActorID    string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
}

// Key is a position in the (event_time, event_id) order pages follow.
type Key struct {
	Time time.Time
	ID   uuid.UUID
}

// Page asks for up to Limit events after After (exclusive), ascending or
// descending by (event_time, event_id).
type Page struct {
	After *Key
	Desc  bool
	Limit int
}

// KeyOf is a record's position in page order.
func KeyOf(r *auditevent.Record) Key { return Key{Time: r.Time, ID: r.ID} }

// Compare orders two keys in the page's direction.
func (p Page) Compare(a, b Key) int {
	c := a.Time.Compare(b.Time)
	if c == 0 {
		c = bytes.Compare(a.ID[:], b.ID[:])
	}
	if p.Desc {
		return -c
	}
	return c
}

// Matches reports whether r is selected by f; the cold tier applies the
// same rules to archived rows.
func (f Filter) Matches(r *auditevent.Record) bool {
	switch {
	case f.EventID != uuid.Nil && r.ID != f.EventID,
		f.Source != "" && r.Source != f.Source,
		f.CorrelationID != "" && r.CorrelationID != f.CorrelationID,
		f.Category != "" && r.Category != f.Category,
		f.Outcome != "" && r.Outcome != f.Outcome,
		f.WorkflowID != "" && r.WorkflowID != f.WorkflowID,
		f.Namespace != "" && r.Namespace != f.Namespace,
		f.ActorID != "" && r.ActorID != f.ActorID,
		!f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if p, ok := strings.CutSuffix(t, "*"); ok && strings.HasPrefix(r.Type, p) || t == r.Type {
			return true
		}
	}
	return false
}

// where renders f as SQL conditions with positional arguments.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.EventID != uuid.Nil {
		add("event_id = $%d", f.EventID)
	}
	if f.Source != "" {
		add("source = $%d", f.Source)
	}
	if f.CorrelationID != "" {
		add("correlation_id = $%d", f.CorrelationID)
	}
	if f.Category != "" {
		add("event_category = $%d", f.Category)
	}
	if f.Outcome != "" {
		add("event_outcome = $%d", f.Outcome)
	}
	if f.WorkflowID != "" {
		add("workflow_id = $%d", f.WorkflowID)
	}
	if f.Namespace != "" {
		// The partial index's own predicate, stated, lets a generic plan
		// (a cached prepared statement) use it: namespace = $n alone
		// cannot prove namespace <> ''.
		add("namespace = $%d AND namespace <> ''", f.Namespace)
	}
	if f.ActorID != "" {
		add("actor_id = $%d", f.ActorID)
	}
	if !f.Since.IsZero() {
		add("event_time >= $%d", f.Since)
		add("event_date >= $%d", auditevent.Day(f.Since)) // lets the planner prune partitions
	}
	if !f.Until.IsZero() {
		add("event_time < $%d", f.Until)
		add("event_date <= $%d", auditevent.Day(f.Until))
	}
	if len(f.Types) > 0 {
		var alts []string
		for _, t := range f.Types {
			if p, ok := strings.CutSuffix(t, "*"); ok {
				args = append(args, likePrefix(p))
				alts = append(alts, fmt.Sprintf("event_type LIKE $%d", len(args)))
			} else {
				args = append(args, t)
				alts = append(alts, fmt.Sprintf("event_type = $%d", len(args)))
			}
		}
		conds = append(conds, "("+strings.Join(alts, " OR ")+")")
	}
	if len(conds) == 0 {
		return "TRUE", nil
	}
	return strings.Join(conds, " AND "), args
}

func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// Search returns one page of the hot events selected by f.
func Search(ctx context.Context, q Querier, f Filter, p Page) ([]auditevent.Record, error) {
	where, args := f.where()
	dir, cmp := "ASC", ">"
	if p.Desc {
		dir, cmp = "DESC", "<"
	}
	if p.After != nil {
		args = append(args, p.After.Time, p.After.ID)
		where += fmt.Sprintf(" AND (event_time, event_id) %s ($%d, $%d)", cmp, len(args)-1, len(args))
	}
	args = append(args, p.Limit)
	return ReadRecords(ctx, q, fmt.Sprintf("WHERE %s ORDER BY event_time %s, event_id %s LIMIT $%d", where, dir, dir, len(args)), args...)
}

// GroupBy is a dimension the aggregation API counts by.
type GroupBy string

// The dimensions of SPEC §8, with the column each one reads.
var GroupColumns = map[GroupBy]string{
	"event_type":    "event_type",
	"workflow_id":   "workflow_id",
	"event_outcome": "event_outcome",
	"day":           "event_date::text",
	"actor_id":      "actor_id",
}

// GroupKey is r's value in the dimension, as Count's SQL renders it.
func GroupKey(r *auditevent.Record, by GroupBy) string {
	switch by {
	case "event_type":
		return r.Type
	case "workflow_id":
		return r.WorkflowID
	case "event_outcome":
		return r.Outcome
	case "day":
		return r.EventDate.Format(time.DateOnly)
	case "actor_id":
		return r.ActorID
	}
	return ""
}

// Count returns how many hot events f selects, per value of the dimension.
func Count(ctx context.Context, q Querier, f Filter, by GroupBy) (map[string]int64, error) {
	col, ok := GroupColumns[by]
	if !ok {
		return nil, fmt.Errorf("unknown group_by %q", by)
	}
	where, args := f.where()
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT %s, count(*) FROM audit.audit_events WHERE %s GROUP BY 1", col, where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
