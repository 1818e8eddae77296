package archive

import (
	"crypto/sha256"
	"encoding/hex"
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

func formatTime(t time.Time) string { return t.UTC().Format(integrity.TimeLayout) }

// buildManifest describes parts (every part of day d so far, in order) as the
// manifest following head in the chain.
func buildManifest(d time.Time, parts []partState, head manifestRef, s *Signer, createdAt, retain time.Time) Manifest {
	m := Manifest{
		Format: ManifestFormat, Table: "audit.audit_events", EventDate: d.Format(time.DateOnly),
		Version: len(parts), ChainSeq: head.Seq + 1,
		CreatedAt: formatTime(createdAt), RetainUntil: retain.UTC().Format(time.RFC3339),
		SigningKey: KeyRef{Algorithm: "ed25519", KeyID: s.KeyID, Key: PublicKeyKey(s.KeyID)},
	}
	if head.Seq > 0 {
		m.Previous = &ManifestLink{ChainSeq: head.Seq, Key: head.Key, SHA256: hex.EncodeToString(head.SHA256)}
	}
	var all contentStats
	for _, p := range parts {
		m.Parts = append(m.Parts, ManifestPart{
			Part: p.Part, Key: p.Key, VersionID: p.VersionID, Size: p.Size, SHA256: hex.EncodeToString(p.SHA256),
			RowCount: p.Stats.Rows, MinEventTime: formatTime(p.Stats.MinEventTime), MaxEventTime: formatTime(p.Stats.MaxEventTime),
			LedgerSeqAfter: p.Range.After, LedgerSeqThrough: p.Range.Through, EventsDigest: hex.EncodeToString(p.Digest),
		})
		all.merge(p.Stats)
	}
	m.RowCount, m.MinEventTime, m.MaxEventTime = all.Rows, formatTime(all.MinEventTime), formatTime(all.MaxEventTime)
	return m
}

// encode is the manifest's stored form: indented JSON, for people to read.
func (m Manifest) encode() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // plain strings and numbers only
	}
	return append(b, '\n')
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
