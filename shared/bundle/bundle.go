// Package bundle is the export bundle (docs/integrity.md §8): a remediation's
// (or any filter's) events, each with its inclusion proof in one signed,
// witnessed checkpoint, checkable with the public key alone. It is JSON
// Lines: a header, one line per event, and an end line, so it is written and
// read as a stream, in bounded memory.
package bundle

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"function/shared/trail"
)

// Format names the bundle format in its header. Version 2 added salted
// events and redaction (docs/integrity.md §10); a reader takes version 1
// too, whose events are all plainly hashed.
const (
	Format   = "auditfn-bundle/v2"
	formatV1 = "auditfn-bundle/v1"
)

// Header is the first line.
type Header struct {
	Bundle string `json:"bundle"` // Format
	// Origin is the log's name; Checkpoint its signed note (C2SP
	// tlog-checkpoint, with any witness cosignatures) every proof leads to.
	Origin     string `json:"origin"`
	Checkpoint string `json:"checkpoint"`
	// Signatures name who signed the checkpoint: each signature line's key
	// name and key hash (the note's fingerprint of the verifier key).
	Signatures []Signature `json:"signatures"`
	// Filter is the export's query, as asked.
	Filter map[string][]string `json:"filter"`
	// Trail, in a bundle of one correlation id's events (no other
	// filter), is what the checkpoint's trail index holds for it, so the
	// bundle can be shown complete (docs/integrity.md §9).
	Trail *Trail `json:"trail,omitempty"`
}

// Trail is a correlation id's trail index entry (nil: it has none) and the
// proof of it against the root the checkpoint commits to.
type Trail struct {
	CorrelationID string      `json:"correlationId"`
	Entry         *TrailEntry `json:"entry"`
	Proof         trail.Proof `json:"proof"`
}

// TrailEntry is trail.Entry in JSON.
type TrailEntry struct {
	Count   uint64 `json:"count"`
	Last    uint64 `json:"last"`
	Rolling string `json:"rolling"` // hex
}

// NewTrail is the header's trail for id's entry e (nil: none).
func NewTrail(id string, e *trail.Entry, p trail.Proof) *Trail {
	t := &Trail{CorrelationID: id, Proof: p}
	if e != nil {
		t.Entry = &TrailEntry{Count: e.Count, Last: e.Last, Rolling: hex.EncodeToString(e.Rolling[:])}
	}
	return t
}

// Committed is the entry the header states (nil: none).
func (t *Trail) Committed() (*trail.Entry, error) {
	if t.Entry == nil {
		return nil, nil
	}
	r, err := hex.DecodeString(t.Entry.Rolling)
	if err != nil || len(r) != 32 {
		return nil, fmt.Errorf("the trail's rolling hash %q is not 32 bytes of hex", t.Entry.Rolling)
	}
	return &trail.Entry{Count: t.Entry.Count, Last: t.Entry.Last, Rolling: [32]byte(r)}, nil
}

// Signature is one signature line of the checkpoint.
type Signature struct {
	Name    string `json:"name"`
	KeyHash string `json:"keyHash"` // 8 hex digits
}

// Entry is one event: its canonical form (docs/integrity.md §1), what its
// event hash is recomputed from (Hash), its leaf index and the inclusion
// proof.
type Entry struct {
	Index     uint64          `json:"index"`
	EventHash string          `json:"eventHash"` // hex
	Event     json.RawMessage `json:"event,omitempty"`
	// Salt is a salted event's salt (hex), given when none of its values is
	// redacted.
	Salt string `json:"salt,omitempty"`
	// Salts and Redacted, in a salted event with values redacted, map each
	// leaf's JSON Pointer to its field salt or, where the event shows null,
	// to its commitment (hex).
	Salts    map[string]string `json:"salts,omitempty"`
	Redacted map[string]string `json:"redacted,omitempty"`
	// Withheld marks a plainly hashed event with values to redact: only its
	// hash and proof are given.
	Withheld bool     `json:"withheld,omitempty"`
	Proof    [][]byte `json:"proof"` // base64 in JSON
}

// End is the last line: how many events came before it, and how many the
// filter selected that are newer than the checkpoint (left out; export
// again once the next checkpoint is signed).
type End struct {
	End     bool `json:"end"`
	Events  int  `json:"events"`
	Pending int  `json:"pending"`
	// Redacted counts the values shown only by their commitments; Withheld
	// the events shown only by their hashes.
	Redacted int `json:"valuesRedacted,omitempty"`
	Withheld int `json:"eventsWithheld,omitempty"`
}

// Writer writes a bundle line by line.
type Writer struct {
	w                  *bufio.Writer
	n                  int
	redacted, withheld int
}

// NewWriter writes the header.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Bundle = Format
	bw := &Writer{w: bufio.NewWriter(w)}
	return bw, bw.line(h)
}

// Add writes one entry.
func (w *Writer) Add(e Entry) error {
	w.n++
	w.redacted += len(e.Redacted)
	if e.Withheld {
		w.withheld++
	}
	return w.line(e)
}

// Close writes the end line and flushes.
func (w *Writer) Close(pending int) error {
	if err := w.line(End{End: true, Events: w.n, Pending: pending, Redacted: w.redacted, Withheld: w.withheld}); err != nil {
		return err
	}
	return w.w.Flush()
}

// Flush sends what is buffered (between pages).
func (w *Writer) Flush() error { return w.w.Flush() }

func (w *Writer) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.w.Write(b)
	return err
}

// maxLine bounds one line (an event is at most 256 KiB, its proof small).
const maxLine = 4 << 20

// Reader reads a bundle.
type Reader struct {
	s      *bufio.Scanner
	Header Header
	end    *End
	line   int
}

// NewReader reads the header.
func NewReader(r io.Reader) (*Reader, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLine)
	br := &Reader{s: s}
	if !s.Scan() {
		return nil, fmt.Errorf("not a bundle: no header line: %v", s.Err())
	}
	br.line = 1
	if err := json.Unmarshal(s.Bytes(), &br.Header); err != nil || (br.Header.Bundle != Format && br.Header.Bundle != formatV1) {
		return nil, fmt.Errorf("not a %s bundle (line 1)", Format)
	}
	return br, nil
}

// ErrTruncated means the bundle ends without its end line.
var ErrTruncated = errors.New("the bundle ends without its end line: truncated")

// Next is the next entry; io.EOF after the end line.
func (r *Reader) Next() (Entry, error) {
	if r.end != nil {
		return Entry{}, io.EOF
	}
	if !r.s.Scan() {
		if err := r.s.Err(); err != nil {
			return Entry{}, err
		}
		return Entry{}, ErrTruncated
	}
	r.line++
	var probe struct {
		End *bool `json:"end"`
	}
	if err := json.Unmarshal(r.s.Bytes(), &probe); err != nil {
		return Entry{}, fmt.Errorf("line %d: %v", r.line, err)
	}
	if probe.End != nil {
		var e End
		if err := json.Unmarshal(r.s.Bytes(), &e); err != nil {
			return Entry{}, fmt.Errorf("line %d: %v", r.line, err)
		}
		r.end = &e
		if r.s.Scan() {
			return Entry{}, fmt.Errorf("line %d: data after the end line", r.line+1)
		}
		return Entry{}, io.EOF
	}
	var e Entry
	if err := json.Unmarshal(r.s.Bytes(), &e); err != nil {
		return Entry{}, fmt.Errorf("line %d: %v", r.line, err)
	}
	return e, nil
}

// End is the end line, once Next has returned io.EOF.
func (r *Reader) End() *End { return r.end }

// Line is the number of the line read last.
func (r *Reader) Line() int { return r.line }
