package auditevent

import (
	"context"
	"net/http"
	"regexp"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"function/shared/pgtext"
)

// Extension attribute names (SPEC §4).
const (
	ExtCorrelationID = "correlationid"
	ExtCategory      = "category"
	ExtAction        = "action"
	ExtOutcome       = "outcome"
	ExtActorType     = "actortype"
	ExtActorID       = "actorid"
	ExtTraceParent   = "traceparent"
	// ExtSignature authenticates the sender (shared/eventauth); it is
	// checked by the collector and not stored.
	ExtSignature = "auditsig"
)

// maxClockSkew bounds how far in the future an event time may lie; it keeps a
// wrong clock or a forged time from creating far-future partitions.
const maxClockSkew = time.Hour

var (
	traceParentRE = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)
	earliest      = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ToCloudEvent is the CloudEvent that carries ev.
func ToCloudEvent(ev Event) cloudevents.Event {
	e := cloudevents.NewEvent(cloudevents.VersionV1)
	e.SetID(ev.ID.String())
	e.SetSource(ev.Source)
	e.SetType(ev.Type)
	e.SetTime(ev.Time)
	e.SetSubject(ev.Subject)
	e.SetExtension(ExtCorrelationID, ev.CorrelationID)
	e.SetExtension(ExtCategory, ev.Category)
	e.SetExtension(ExtAction, ev.Action)
	e.SetExtension(ExtOutcome, ev.Outcome)
	e.SetExtension(ExtActorType, ev.ActorType)
	e.SetExtension(ExtActorID, ev.ActorID)
	if ev.TraceParent != "" {
		e.SetExtension(ExtTraceParent, ev.TraceParent)
	}
	if ev.Signature != "" {
		e.SetExtension(ExtSignature, ev.Signature)
	}
	// The payload is JSON already: carried as is, it goes out as "data" in
	// structured and batch mode. SetData would mark bytes for data_base64, a
	// third larger and decoded twice by the receiver.
	e.SetDataContentType(cloudevents.ApplicationJSON)
	e.DataEncoded = ev.Data
	return e
}

// FromCloudEvent validates a received CloudEvent as an audit event (known
// type, envelope consistent with the type, required payload keys and types,
// sizes) and returns it in stored form. The error is a *ValidationError
// naming every bad field.
func FromCloudEvent(e cloudevents.Event, now time.Time) (Event, error) {
	errs := &ValidationError{}
	if e.SpecVersion() != cloudevents.VersionV1 {
		errs.add("specversion", "must be 1.0")
	}
	id, err := uuid.Parse(e.ID())
	if err != nil {
		errs.add("id", "must be a UUID")
	}
	if e.Source() == "" || len(e.Source()) > 512 {
		errs.add("source", "must be 1..512 characters")
	}
	checkText(errs, "source", e.Source())
	checkText(errs, "subject", e.Subject())
	s, known := specs[e.Type()]
	if !known {
		errs.add("type", "unknown event type %q", e.Type())
	}
	t := e.Time()
	switch {
	case t.IsZero():
		errs.add("time", "is required")
	case t.Before(earliest):
		errs.add("time", "is before %s", earliest.Format(time.DateOnly))
	case t.After(now.Add(maxClockSkew)):
		errs.add("time", "is more than %s in the future", maxClockSkew)
	}
	if e.Subject() == "" {
		errs.add("subject", "is required")
	}
	if ct := e.DataContentType(); ct != cloudevents.ApplicationJSON {
		errs.add("datacontenttype", "must be application/json, not %q", ct)
	}
	ext := extensions(e, errs)
	if known {
		if ext[ExtCategory] != s.category {
			errs.add(ExtCategory, "must be %q for %s", s.category, e.Type())
		}
		if ext[ExtAction] != s.action {
			errs.add(ExtAction, "must be %q for %s", s.action, e.Type())
		}
	}
	if o := ext[ExtOutcome]; o != OutcomeSuccess && o != OutcomeFailure {
		errs.add(ExtOutcome, "must be success or failure")
	}
	if tp := ext[ExtTraceParent]; tp != "" && !traceParentRE.MatchString(tp) {
		errs.add(ExtTraceParent, "is not a W3C traceparent")
	}
	size := len(e.Data()) + len(e.ID()) + len(e.Source()) + len(e.Type()) + len(e.Subject())
	for _, v := range ext {
		size += len(v)
	}
	if size > MaxEventBytes {
		errs.add("data", "event is %d bytes, over the %d byte limit", size, MaxEventBytes)
		return Event{}, errs
	}
	data := checkData(e.Type(), e.Data(), errs)
	if err := errs.orNil(); err != nil {
		return Event{}, err
	}
	return Event{
		ID:            id,
		Source:        e.Source(),
		Type:          e.Type(),
		Time:          Truncate(t),
		Subject:       e.Subject(),
		CorrelationID: ext[ExtCorrelationID],
		Category:      ext[ExtCategory],
		Action:        ext[ExtAction],
		Outcome:       ext[ExtOutcome],
		ActorType:     ext[ExtActorType],
		ActorID:       ext[ExtActorID],
		TraceParent:   ext[ExtTraceParent],
		Data:          data,
		Signature:     ext[ExtSignature],
	}, nil
}

// checkText rejects what a PostgreSQL text column cannot hold.
func checkText(errs *ValidationError, field, s string) {
	if !pgtext.Valid(s) {
		errs.add(field, pgtext.Message)
	}
}

// extensions reads the audit extensions, which must be strings when present.
func extensions(e cloudevents.Event, errs *ValidationError) map[string]string {
	out := make(map[string]string, 8)
	all := e.Extensions()
	for _, name := range []string{ExtCorrelationID, ExtCategory, ExtAction, ExtOutcome, ExtActorType, ExtActorID, ExtTraceParent, ExtSignature} {
		v, ok := all[name]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString || len(s) > 1024 {
			errs.add(name, "must be a string of at most 1024 characters")
			continue
		}
		checkText(errs, name, s)
		out[name] = s
	}
	return out
}

// HTTPRequest is a POST of events to url: binary mode for one event, batch
// mode (application/cloudevents-batch+json) for more.
func HTTPRequest(ctx context.Context, url string, events []Event) (*http.Request, error) {
	if len(events) == 1 {
		return cehttp.NewHTTPRequestFromEvent(ctx, url, ToCloudEvent(events[0]))
	}
	ces := make([]cloudevents.Event, len(events))
	for i, ev := range events {
		ces[i] = ToCloudEvent(ev)
	}
	return cehttp.NewHTTPRequestFromEvents(ctx, url, ces)
}
