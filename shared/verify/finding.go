package verify

import "fmt"

// Kind is what a finding is, for machines: alerts, the tamper tests and
// auditors' scripts match on it; Problem says it for people.
type Kind string

// The kinds of finding. The culprit is the event, the ledger batch or the
// object (part, manifest, checkpoint, key) the finding names.
const (
	// Events.
	EventAltered    Kind = "event_altered"    // content does not match its event_hash
	EventMisplaced  Kind = "event_misplaced"  // not at the ledger position its batch expects
	EventOutside    Kind = "event_outside"    // in no ledger batch, or outside its part's range
	EventWrongDay   Kind = "event_wrong_day"  // in the part of another day
	BatchCount      Kind = "batch_count"      // a batch holds more or fewer events than its ledger row says
	BatchDigest     Kind = "batch_digest"     // a batch's events do not match its events_digest
	BatchAltered    Kind = "batch_altered"    // batch_hash does not match the batch's fields
	BatchLink       Kind = "batch_link"       // prev_hash does not match the previous batch
	LedgerGap       Kind = "ledger_gap"       // a batch is missing from the ledger
	LedgerTruncated Kind = "ledger_truncated" // the ledger ends before the newest checkpoint
	HeadRewritten   Kind = "head_rewritten"   // the checkpointed batch differs from its checkpoint

	// The Merkle tree (docs/integrity.md §7).
	TreeLeaf       Kind = "tree_leaf"       // an event's leaf is not in the tree where its batch puts it
	TreeBatch      Kind = "tree_batch"      // a batch has no place, or a wrong one, in the tree
	TreeAltered    Kind = "tree_altered"    // the stored tree does not hash to a signed checkpoint's root
	TreeTruncated  Kind = "tree_truncated"  // the tree is smaller than a signed checkpoint
	TreeCheckpoint Kind = "tree_checkpoint" // a checkpoint is invalid, unsigned, forked or differs from the bucket's
	// The newest checkpoint's cosignatures do not satisfy the witness policy.
	TreeUnwitnessed Kind = "tree_unwitnessed"

	// The trail index (docs/integrity.md §9).
	TrailIncomplete Kind = "trail_incomplete" // a trail's events differ from those its checkpoint commits to
	TrailIndex      Kind = "trail_index"      // the index cannot show a trail's entry, or a checkpoint's root is not its events'

	// Export bundles (docs/integrity.md §8); the culprit is a line of the bundle.
	BundleInvalid Kind = "bundle_invalid" // not a bundle, truncated, or its end line miscounts
	BundleEvent   Kind = "bundle_event"   // an event altered (content and eventHash differ) or repeated
	BundleProof   Kind = "bundle_proof"   // an event its proof does not place in the checkpoint's tree

	// Objects.
	ArchiveEmpty        Kind = "archive_empty"        // no manifest and no checkpoint where the archive should be
	ObjectMissing       Kind = "object_missing"       // a listed or named object cannot be read
	ObjectAltered       Kind = "object_altered"       // size or SHA-256 differs from what was recorded or listed
	PartContent         Kind = "part_content"         // rows, time range or events digest differ from the manifest
	PartUnlisted        Kind = "part_unlisted"        // an archived part no signed manifest lists as it is
	ManifestInvalid     Kind = "manifest_invalid"     // not a manifest of this format
	ManifestSignature   Kind = "manifest_signature"   // unsigned, or the signature does not verify
	ManifestChain       Kind = "manifest_chain"       // a chain position is missing, or a link is wrong
	CheckpointInvalid   Kind = "checkpoint_invalid"   // not a checkpoint
	CheckpointSignature Kind = "checkpoint_signature" // unsigned, or the signature does not verify
)

// Finding is one integrity failure and its culprit.
type Finding struct {
	Kind      Kind   `json:"kind"`
	LedgerSeq int64  `json:"ledgerSeq,omitempty"`
	EventID   string `json:"eventId,omitempty"`
	Object    string `json:"object,omitempty"`
	Problem   string `json:"problem"`
	// Trail marks, in a correlation scope, a finding that concerns the
	// trail itself; the others are damage elsewhere.
	Trail bool `json:"trail,omitempty"`
}

// Report is what a verification checked and found.
type Report struct {
	EventsChecked int `json:"eventsChecked"`
	Manifests     int `json:"manifests"`
	Parts         int `json:"parts"`
	Checkpoints   int `json:"checkpoints"`
	// TreeCheckpoints is how many signed tree checkpoints were checked.
	TreeCheckpoints int `json:"treeCheckpoints"`
	// TreeEvents is, offline, how many archived events were found at their
	// leaves in the copy's full tiles, under a signed checkpoint; the rest
	// lie beyond the copy's last full tile.
	TreeEvents int `json:"treeEvents,omitempty"`
	// ValuesRedacted and EventsWithheld are, in a bundle, how many values
	// were checked by their commitments alone and how many events by their
	// hashes alone (docs/integrity.md §10).
	ValuesRedacted int `json:"valuesRedacted,omitempty"`
	EventsWithheld int `json:"eventsWithheld,omitempty"`
	// Trail is, in a correlation scope, whether the trail is complete.
	Trail    *Trail    `json:"trail,omitempty"`
	Findings []Finding `json:"findings"`
}

// OK tells whether nothing was found.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

func (r *Report) add(f ...Finding) { r.Findings = append(r.Findings, f...) }

// markTrail marks the findings that concern the trail: its events', its
// index's, and the newest checkpoint's, which anchors it. The trail is
// complete when a checkpoint anchors it and none does.
func (r *Report) markTrail(ids map[string]bool) {
	if r.Trail == nil {
		return
	}
	r.Trail.Complete = r.Trail.Checkpoint > 0
	for i := range r.Findings {
		f := &r.Findings[i]
		switch f.Kind {
		case TrailIncomplete, TrailIndex, TreeCheckpoint, TreeAltered, TreeTruncated, TreeUnwitnessed:
			f.Trail = true
		default:
			f.Trail = f.EventID != "" && ids[f.EventID]
		}
		if f.Trail {
			r.Trail.Complete = false
		}
	}
}

// findings collects one check's findings.
type findings []Finding

func (fs *findings) batch(kind Kind, seq int64, format string, args ...any) {
	*fs = append(*fs, Finding{Kind: kind, LedgerSeq: seq, Problem: fmt.Sprintf(format, args...)})
}

func (fs *findings) event(kind Kind, seq int64, id, format string, args ...any) {
	*fs = append(*fs, Finding{Kind: kind, LedgerSeq: seq, EventID: id, Problem: fmt.Sprintf(format, args...)})
}

func (fs *findings) object(kind Kind, key, format string, args ...any) {
	*fs = append(*fs, Finding{Kind: kind, Object: key, Problem: fmt.Sprintf(format, args...)})
}
