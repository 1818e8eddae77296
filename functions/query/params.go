package query

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"function/shared/auditstore"
	"function/shared/problem"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
	maxValueLen  = 253
)

// namespaceRE is a Kubernetes namespace name (a DNS-1123 label).
var namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// eventsQuery is a validated GET /api/v1/audit/events.
type eventsQuery struct {
	filter auditstore.Filter
	page   auditstore.Page
}

// parseFilter reads the filters shared by events and aggregations.
func parseFilter(q url.Values, now time.Time) (auditstore.Filter, []problem.FieldError) {
	var (
		f    auditstore.Filter
		errs []problem.FieldError
	)
	bad := func(field, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	text := func(name string) string {
		v := q.Get(name)
		if len(v) > maxValueLen {
			bad(name, "is longer than %d characters", maxValueLen)
		}
		return v
	}
	f.CorrelationID = text("correlation_id")
	f.Category = text("event_category")
	f.Outcome = text("event_outcome")
	if o := f.Outcome; o != "" && o != "success" && o != "failure" {
		bad("event_outcome", "must be success or failure")
	}
	f.WorkflowID = text("workflow_id")
	f.Namespace = text("namespace")
	if ns := f.Namespace; ns != "" && !namespaceRE.MatchString(ns) {
		bad("namespace", "must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)")
	}
	f.ActorID = text("actor_id")
	for _, t := range q["event_type"] {
		switch {
		case t == "" || len(t) > maxValueLen:
			bad("event_type", "must be 1..%d characters", maxValueLen)
		case strings.Contains(strings.TrimSuffix(t, "*"), "*"):
			bad("event_type", "%q: only a trailing * (prefix match) is allowed", t)
		default:
			f.Types = append(f.Types, t)
		}
	}
	var err error
	if f.Since, err = parseTime(q.Get("since"), now); err != nil {
		bad("since", "%v", err)
	}
	if f.Until, err = parseTime(q.Get("until"), now); err != nil {
		bad("until", "%v", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		bad("until", "must be after since")
	}
	return f, errs
}

// parseTime reads RFC 3339, or a duration before now such as 90m, 24h, 7d.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a relative time such as 24h or 7d", s)
		}
		return now.AddDate(0, 0, -n).UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 100*365*24*time.Hour {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a relative time such as 24h or 7d", s)
	}
	return now.Add(-d).UTC(), nil
}

// cursor is where the next page starts; it is bound to the filters and order
// it was made for, so it cannot be replayed against another query.
type cursor struct {
	Time   time.Time `json:"t"`
	ID     uuid.UUID `json:"i"`
	Desc   bool      `json:"d"`
	Filter string    `json:"f"`
}

func filterDigest(q url.Values) string {
	keep := url.Values{}
	for _, k := range []string{"correlation_id", "event_type", "event_category", "event_outcome", "workflow_id", "namespace", "actor_id", "since", "until", "order"} {
		if v, ok := q[k]; ok {
			keep[k] = v
		}
	}
	sum := sha256.Sum256([]byte(keep.Encode()))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // plain struct: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 512 || json.Unmarshal(b, &c) != nil || c.Time.IsZero() || c.Filter == "" {
		return cursor{}, fmt.Errorf("not a cursor from this API")
	}
	return c, nil
}

// parseEvents validates the events query.
func parseEvents(q url.Values, now time.Time) (eventsQuery, []problem.FieldError) {
	f, errs := parseFilter(q, now)
	r := eventsQuery{filter: f, page: auditstore.Page{Limit: defaultLimit, Desc: f.CorrelationID == ""}}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			errs = append(errs, problem.FieldError{Field: "limit", Message: fmt.Sprintf("must be 1..%d", maxLimit)})
		}
		r.page.Limit = n
	}
	switch q.Get("order") {
	case "":
	case "asc":
		r.page.Desc = false
	case "desc":
		r.page.Desc = true
	default:
		errs = append(errs, problem.FieldError{Field: "order", Message: "must be asc or desc"})
	}
	if s := q.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		switch {
		case err != nil:
			errs = append(errs, problem.FieldError{Field: "cursor", Message: err.Error()})
		case c.Filter != filterDigest(q) || c.Desc != r.page.Desc:
			errs = append(errs, problem.FieldError{Field: "cursor", Message: "belongs to a query with other filters or order"})
		default:
			r.page.After = &auditstore.Key{Time: c.Time, ID: c.ID}
		}
	}
	return r, errs
}
