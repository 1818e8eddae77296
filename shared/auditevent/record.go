package auditevent

import (
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Record is an event as stored: the event, the columns derived from it, when
// the collector received it and its integrity columns.
type Record struct {
	Event
	EventDate    time.Time // UTC midnight of Time
	ResourceType string
	ResourceID   string
	Namespace    string
	ClusterID    string
	WorkflowID   string
	ReceivedAt   time.Time
	LedgerSeq    int64
	LedgerPos    int32
	Hash         []byte
	Salt         []byte // nil for events hashed before salting (docs/integrity.md §10)
}

// locator holds the payload fields that fill derived columns.
type locator struct {
	WorkflowID    string `json:"workflowId"`
	SignalContext struct {
		Cluster string `json:"cluster"`
	} `json:"signalContext"`
	WorkflowExecution struct {
		Namespace string `json:"namespace"`
	} `json:"workflowExecution"`
}

// Day is the UTC midnight of t: the event_date of an event at t, and the
// day partition and archive day it belongs to.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// NewRecord derives the stored columns of a validated event.
func NewRecord(ev Event) Record {
	var loc locator
	// Validated data; absent fields stay empty. The v2 prototype skips the
	// rest of a payload about three times as fast as encoding/json.
	_ = jsonv2.Unmarshal(ev.Data, &loc)
	return Record{
		Event:        ev,
		EventDate:    Day(ev.Time),
		ResourceType: specs[ev.Type].resourceType,
		ResourceID:   ev.Subject,
		Namespace:    loc.WorkflowExecution.Namespace,
		ClusterID:    loc.SignalContext.Cluster,
		WorkflowID:   loc.WorkflowID,
	}
}
