package query

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"function/shared/auditstore"
	"function/shared/pgtext"
	"function/shared/problem"
	"function/shared/verify"
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

// params reads the query parameters of one request. Every value it hands
// out is text PostgreSQL can compare with: one holding a NUL or invalid
// UTF-8, which PostgreSQL refuses (failing the query, a 503), is refused
// here, naming its parameter, whichever parameter it is.
type params struct {
	q    url.Values
	errs []problem.FieldError
}

func (p *params) bad(field, format string, args ...any) {
	p.errs = append(p.errs, problem.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// all is every value of parameter name; none when one of them is refused.
func (p *params) all(name string) []string {
	vs := p.q[name]
	if slices.ContainsFunc(vs, func(v string) bool { return !pgtext.Valid(v) }) {
		p.bad(name, "%s", pgtext.Message)
		return nil
	}
	return vs
}

// get is the first value of parameter name; "" when absent or refused.
func (p *params) get(name string) string {
	if vs := p.all(name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// text is a free-text filter value.
func (p *params) text(name string) string {
	v := p.get(name)
	if len(v) > maxValueLen {
		p.bad(name, "is longer than %d characters", maxValueLen)
	}
	return v
}

// parseFilter reads the filters shared by events and aggregations.
func parseFilter(q url.Values, now time.Time) (auditstore.Filter, []problem.FieldError) {
	p := &params{q: q}
	f := p.filter(now)
	return f, p.errs
}

func (p *params) filter(now time.Time) auditstore.Filter {
	var f auditstore.Filter
	f.CorrelationID = p.text("correlation_id")
	f.Category = p.text("event_category")
	f.Outcome = p.text("event_outcome")
	if o := f.Outcome; o != "" && o != "success" && o != "failure" {
		p.bad("event_outcome", "must be success or failure")
	}
	f.WorkflowID = p.text("workflow_id")
	f.Namespace = p.text("namespace")
	if ns := f.Namespace; ns != "" && !namespaceRE.MatchString(ns) {
		p.bad("namespace", "must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)")
	}
	f.ActorID = p.text("actor_id")
	for _, t := range p.all("event_type") {
		switch {
		case t == "" || len(t) > maxValueLen:
			p.bad("event_type", "must be 1..%d characters", maxValueLen)
		case strings.Contains(strings.TrimSuffix(t, "*"), "*"):
			p.bad("event_type", "%q: only a trailing * (prefix match) is allowed", t)
		default:
			f.Types = append(f.Types, t)
		}
	}
	var err error
	if f.Since, err = parseTime(p.get("since"), now); err != nil {
		p.bad("since", "%v", err)
	}
	if f.Until, err = parseTime(p.get("until"), now); err != nil {
		p.bad("until", "%v", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		p.bad("until", "must be after since")
	}
	return f
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
			return time.Time{}, fmt.Errorf("%.80q is neither RFC 3339 nor a relative time such as 24h or 7d", s)
		}
		return now.AddDate(0, 0, -n).UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 100*365*24*time.Hour {
		return time.Time{}, fmt.Errorf("%.80q is neither RFC 3339 nor a relative time such as 24h or 7d", s)
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
	p := &params{q: q}
	f := p.filter(now)
	r := eventsQuery{filter: f, page: auditstore.Page{Limit: defaultLimit, Desc: f.CorrelationID == ""}}
	if s := p.get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			p.bad("limit", "must be 1..%d", maxLimit)
		}
		r.page.Limit = n
	}
	switch p.get("order") {
	case "":
	case "asc":
		r.page.Desc = false
	case "desc":
		r.page.Desc = true
	default:
		p.bad("order", "must be asc or desc")
	}
	if s := p.get("cursor"); s != "" {
		c, err := decodeCursor(s)
		switch {
		case err != nil:
			p.bad("cursor", "%v", err)
		case c.Filter != filterDigest(q) || c.Desc != r.page.Desc:
			p.bad("cursor", "belongs to a query with other filters or order")
		default:
			r.page.After = &auditstore.Key{Time: c.Time, ID: c.ID}
		}
	}
	return r, p.errs
}

// parseScope validates the verify query: exactly one of a day and a
// correlation id.
func parseScope(q url.Values) (verify.Scope, []problem.FieldError) {
	p := &params{q: q}
	var scope verify.Scope
	date, corr := p.get("date"), p.text("correlation_id")
	switch {
	case len(p.errs) > 0: // a refused value, named already
	case (date == "") == (corr == ""):
		p.bad("date", "give exactly one of date (YYYY-MM-DD) and correlation_id")
	case date != "":
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			p.bad("date", "must be YYYY-MM-DD")
		}
		scope.Date = d
	default:
		scope.CorrelationID = corr
	}
	return scope, p.errs
}
