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

// EventCanonical is the RFC 8785 (JCS) encoding of the object holding every
// stored column of r except the integrity columns. r.Data must already be
// canonical JSON, as the collector stores it (after a read from jsonb, pass it
// through canonjson.Transform first).
func EventCanonical(r *auditevent.Record) []byte {
	// Keys in JCS order (all ASCII, so byte order).
	fields := [...]struct{ key, value string }{
		{"action", r.Action},
		{"actorId", r.ActorID},
		{"actorType", r.ActorType},
		{"category", r.Category},
		{"clusterId", r.ClusterID},
		{"correlationId", r.CorrelationID},
		{"data", ""}, // raw JSON, written below
		{"eventDate", r.EventDate.UTC().Format(time.DateOnly)},
		{"eventId", r.ID.String()},
		{"eventTime", r.Time.UTC().Format(TimeLayout)},
		{"eventType", r.Type},
		{"namespace", r.Namespace},
		{"outcome", r.Outcome},
		{"receivedAt", r.ReceivedAt.UTC().Format(TimeLayout)},
		{"resourceId", r.ResourceID},
		{"resourceType", r.ResourceType},
		{"source", r.Source},
		{"subject", r.Subject},
		{"traceParent", r.TraceParent},
		{"workflowId", r.WorkflowID},
	}
	size := 64 + len(r.Data) // braces, and the time and date values below
	for _, f := range fields {
		size += len(f.key) + len(f.value) + 6 // quotes, colon, comma
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = canonjson.AppendString(b, f.key)
		b = append(b, ':')
		if f.key == "data" {
			b = append(b, r.Data...)
		} else {
			b = canonjson.AppendString(b, f.value)
		}
	}
	return append(b, '}')
}

// EventHash is SHA-256 of EventCanonical(r).
func EventHash(r *auditevent.Record) []byte {
	h := sha256.Sum256(EventCanonical(r))
	return h[:]
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
