// Package integrity defines the tamper-evidence hashes of the audit store:
// the canonical bytes and SHA-256 of each stored event, and the hash chain of
// committed batches. docs/integrity.md specifies them for auditors; this
// package is the reference implementation the collector and verifiers share.
package integrity

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"function/shared/auditevent"
	"function/shared/canonjson"
)

// HashSize is the size of every hash in the chain.
const HashSize = sha256.Size

// Genesis is the prev_hash of the first ledger batch.
var Genesis = make([]byte, HashSize)

// TimeLayout is how times appear in canonical bytes: UTC, exactly six
// fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// EventKeys are the members of EventCanonical's object, in its order.
var EventKeys = []string{"action", "actorId", "actorType", "category", "clusterId", "correlationId", "data",
	"eventDate", "eventId", "eventTime", "eventType", "namespace", "outcome", "receivedAt", "resourceId",
	"resourceType", "source", "subject", "traceParent", "workflowId"}

// EventCanonical is the RFC 8785 (JCS) encoding of the object holding every
// stored column of r except the integrity columns. r.Data must already be
// canonical JSON, as the collector stores it (after a read from jsonb, pass it
// through canonjson.Transform first).
func EventCanonical(r *auditevent.Record) []byte {
	return canonjson.Object([]canonjson.Member{
		{Key: "action", Value: r.Action},
		{Key: "actorId", Value: r.ActorID},
		{Key: "actorType", Value: r.ActorType},
		{Key: "category", Value: r.Category},
		{Key: "clusterId", Value: r.ClusterID},
		{Key: "correlationId", Value: r.CorrelationID},
		{Key: "data", Raw: r.Data},
		{Key: "eventDate", Value: r.EventDate.UTC().Format(time.DateOnly)},
		{Key: "eventId", Value: r.ID.String()},
		{Key: "eventTime", Value: r.Time.UTC().Format(TimeLayout)},
		{Key: "eventType", Value: r.Type},
		{Key: "namespace", Value: r.Namespace},
		{Key: "outcome", Value: r.Outcome},
		{Key: "receivedAt", Value: r.ReceivedAt.UTC().Format(TimeLayout)},
		{Key: "resourceId", Value: r.ResourceID},
		{Key: "resourceType", Value: r.ResourceType},
		{Key: "source", Value: r.Source},
		{Key: "subject", Value: r.Subject},
		{Key: "traceParent", Value: r.TraceParent},
		{Key: "workflowId", Value: r.WorkflowID},
	})
}

// EventHash is r's event hash: SHA-256 of EventCanonical(r) for an event
// without a salt (§1), else the salted hash (§10), which commits to each
// value apart so that a bundle can redact one and stay checkable.
func EventHash(r *auditevent.Record) []byte {
	if r.Salt == nil {
		h := sha256.Sum256(EventCanonical(r))
		return h[:]
	}
	return SaltedHash(EventCanonical(r), r.Salt)
}

// Batch is one ledger row: a group of events committed together.
type Batch struct {
	Seq          int64
	PrevHash     []byte
	EventCount   int
	EventsDigest []byte
	CommittedAt  time.Time
	Hash         []byte
}

// EventsDigest is SHA-256 of the concatenated event hashes in ledger_pos order.
func EventsDigest(eventHashes [][]byte) []byte {
	h := sha256.New()
	for _, e := range eventHashes {
		h.Write(e)
	}
	return h.Sum(nil)
}

// BatchCanonical is the JCS encoding of a batch's chained fields.
func BatchCanonical(b *Batch) []byte {
	out := []byte(`{"committedAt":`)
	out = canonjson.AppendString(out, b.CommittedAt.UTC().Format(TimeLayout))
	out = append(out, `,"eventCount":`...)
	out = strconv.AppendInt(out, int64(b.EventCount), 10)
	out = append(out, `,"eventsDigest":`...)
	out = canonjson.AppendString(out, hex.EncodeToString(b.EventsDigest))
	out = append(out, `,"prevHash":`...)
	out = canonjson.AppendString(out, hex.EncodeToString(b.PrevHash))
	out = append(out, `,"seq":`...)
	out = strconv.AppendInt(out, b.Seq, 10)
	return append(out, '}')
}

// Seal fills b.Hash = SHA-256(BatchCanonical(b)).
func Seal(b *Batch) {
	h := sha256.Sum256(BatchCanonical(b))
	b.Hash = h[:]
}
