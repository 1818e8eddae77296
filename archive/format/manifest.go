package format

import (
	"encoding/json"
	"time"

	"function/shared/integrity"
)

// ManifestFormat names the manifest layout documented in docs/archive.md.
const ManifestFormat = "auditfn-archive-manifest/1"

// Manifest describes every archived part of one day. Manifests form one
// chain across all days, in the order they were written; each is signed by a
// detached ed25519 signature over its exact bytes (object key + ".sig").
type Manifest struct {
	Format       string         `json:"format"`
	Table        string         `json:"table"`
	EventDate    string         `json:"eventDate"`
	Version      int            `json:"version"` // parts covered: 1..Version
	ChainSeq     int64          `json:"chainSeq"`
	Previous     *ManifestLink  `json:"previous"` // null for the first manifest
	CreatedAt    string         `json:"createdAt"`
	RetainUntil  string         `json:"retainUntil"`
	SigningKey   KeyRef         `json:"signingKey"`
	RowCount     int64          `json:"rowCount"`
	MinEventTime string         `json:"minEventTime"`
	MaxEventTime string         `json:"maxEventTime"`
	Parts        []ManifestPart `json:"parts"`
}

// ManifestLink names the previous manifest of the chain.
type ManifestLink struct {
	ChainSeq int64  `json:"chainSeq"`
	Key      string `json:"key"`
	SHA256   string `json:"sha256"`
}

// KeyRef names the key that signed a manifest and where its public half is.
type KeyRef struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"keyId"`
	Key       string `json:"key"`
}

// ManifestPart is one Parquet object. Its rows are the day's events with
// ledger_seq in (LedgerSeqAfter, LedgerSeqThrough]; EventsDigest is SHA-256
// of their event_hash values concatenated in (ledger_seq, ledger_pos) order.
type ManifestPart struct {
	Part             int    `json:"part"`
	Key              string `json:"key"`
	VersionID        string `json:"versionId"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
	RowCount         int64  `json:"rowCount"`
	MinEventTime     string `json:"minEventTime"`
	MaxEventTime     string `json:"maxEventTime"`
	LedgerSeqAfter   int64  `json:"ledgerSeqAfter"`
	LedgerSeqThrough int64  `json:"ledgerSeqThrough"`
	EventsDigest     string `json:"eventsDigest"`
}

// FormatTime is how a manifest writes an event time.
func FormatTime(t time.Time) string { return t.UTC().Format(integrity.TimeLayout) }

// Encode is the manifest's stored form: indented JSON, for people to read.
func (m Manifest) Encode() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // plain strings and numbers only
	}
	return append(b, '\n')
}
