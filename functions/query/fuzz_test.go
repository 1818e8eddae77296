package query

import (
	"net/url"
	"testing"
	"time"

	"function/shared/pgtext"
)

// FuzzParseEvents: any query string, cursor and time text included, gives a
// query or named errors, never a panic; accepted limits are in range, and
// accepted text is text PostgreSQL can compare with.
func FuzzParseEvents(f *testing.F) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	good := encodeCursor(cursor{Time: now, Desc: true, Filter: filterDigest(url.Values{})})
	f.Add("limit=10&since=7d&until=2026-11-23T00:00:00Z&cursor=" + good)
	f.Add("event_type=workflow.catalog.*&event_type=x&order=asc&since=90m&cursor=e30")
	f.Add("since=-5h&until=99999d&limit=1001")
	f.Add("correlation_id=rr%00&workflow_id=%ff&actor_id=%c0%80&event_category=%ed%a0%80&namespace=%00")
	f.Add("event_type=ok&event_type=workflow.%00*&event_outcome=success%ff&limit=1%00&order=asc%00&since=1h%ff")
	f.Add("cursor=" + good + "%00&until=%ff")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, errs := parseEvents(q, now)
		for _, e := range errs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("unnamed error %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		if r.page.Limit < 1 || r.page.Limit > maxLimit {
			t.Fatalf("limit %d accepted", r.page.Limit)
		}
		if !r.filter.Since.IsZero() && !r.filter.Until.IsZero() && !r.filter.Since.Before(r.filter.Until) {
			t.Fatal("since not before until accepted")
		}
		fl := r.filter
		for _, s := range append([]string{fl.CorrelationID, fl.Category, fl.Outcome, fl.WorkflowID, fl.Namespace, fl.ActorID}, fl.Types...) {
			if !pgtext.Valid(s) {
				t.Fatalf("accepted %q, which PostgreSQL refuses", s)
			}
		}
	})
}
