package auditevent

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Actor is who caused an event: for discovery the calling service, for a
// block clearance the user verified by the Kubernetes API server.
type Actor struct {
	Type string
	ID   string
}

// Event is one audit event: the CloudEvent envelope of SPEC §4 and its data.
// Time is UTC at microsecond precision, the precision that is stored and hashed.
type Event struct {
	ID            uuid.UUID
	Source        string
	Type          string
	Time          time.Time
	Subject       string
	CorrelationID string
	Category      string
	Action        string
	Outcome       string
	ActorType     string
	ActorID       string
	TraceParent   string
	// Data is the payload as RFC 8785 canonical JSON.
	Data json.RawMessage
	// Signature is the sender's proof of origin (shared/eventauth), carried
	// in the envelope and never stored.
	Signature string
}

// SourceFor is the CloudEvent source of events emitted by a function.
func SourceFor(function string) string { return "/auditfn/" + function }

// New builds the event a function emits for a payload, with a fresh UUIDv7
// id that stays the event's id across every retry.
func New(function string, p Payload, actor Actor, at time.Time) (Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Event{}, fmt.Errorf("event id: %w", err)
	}
	return NewWithID(id, function, p, actor, at)
}

// NewWithID is New with a caller-chosen id, for events that must get the same
// id however often they are produced (a block clearance seen twice).
func NewWithID(id uuid.UUID, function string, p Payload, actor Actor, at time.Time) (Event, error) {
	s, ok := specs[p.EventType()]
	if !ok {
		return Event{}, fmt.Errorf("unknown event type %q", p.EventType())
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s payload: %w", p.EventType(), err)
	}
	data, err := canonicalData(raw)
	if err != nil {
		return Event{}, err
	}
	return Event{
		ID:            id,
		Source:        SourceFor(function),
		Type:          p.EventType(),
		Time:          Truncate(at),
		Subject:       p.Subject(),
		CorrelationID: p.Correlation(),
		Category:      s.category,
		Action:        s.action,
		Outcome:       p.Outcome(),
		ActorType:     actor.Type,
		ActorID:       actor.ID,
		Data:          data,
	}, nil
}

// Truncate brings a time to the stored form: UTC, whole microseconds.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
