package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"

	"github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"function/shared/bundle"
	"function/shared/canonjson"
	"function/shared/tlog"
)

// Bundle checks an export bundle (docs/integrity.md §8) with nothing but
// the log's verifier keys: the checkpoint is signed under origin ("" takes
// the bundle's own) by one of them, and every event, hashed from its
// content, is at its index in that checkpoint's tree by its proof. Any
// error reading the bundle is a finding, not an error: a bundle is input.
//
// With a witness policy, the checkpoint must also carry the cosignatures
// it asks for (tree_unwitnessed otherwise).
func Bundle(r io.Reader, origin string, verifiers []note.Verifier, policy *witness.Group) (rep Report) {
	rep.Findings = []Finding{}
	var fs findings
	defer func() { rep.add(fs...) }()
	br, err := bundle.NewReader(r)
	if err != nil {
		fs.object(BundleInvalid, "line 1", "%v", err)
		return rep
	}
	if origin == "" {
		origin = br.Header.Origin
	}
	size, root, err := tlog.Open([]byte(br.Header.Checkpoint), origin, verifiers)
	if err != nil {
		fs.object(TreeCheckpoint, "line 1", "the bundle's checkpoint does not verify under %q with the keys given: %v", origin, err)
		return rep
	}
	rep.TreeCheckpoints = 1
	if policy != nil && !tlog.Witnessed([]byte(br.Header.Checkpoint), *policy) {
		fs.object(TreeUnwitnessed, "line 1", "the bundle's checkpoint lacks the cosignatures the witness policy asks for")
	}
	seen := map[uint64]bool{}
	for {
		e, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fs.object(BundleInvalid, lineRef(br.Line()), "%v", err)
			return rep
		}
		rep.EventsChecked++
		ref := lineRef(br.Line())
		canon, err := canonjson.Transform(e.Event)
		if err != nil {
			fs.object(BundleEvent, ref, "the event is not JSON a hash can be computed of: %v", err)
			continue
		}
		sum := sha256.Sum256(canon)
		if hex.EncodeToString(sum[:]) != e.EventHash {
			fs.object(BundleEvent, ref, "the event's content does not hash to its eventHash: altered")
		}
		if seen[e.Index] {
			fs.object(BundleEvent, ref, "a second event at leaf %d", e.Index)
		}
		seen[e.Index] = true
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Index, size, tlog.LeafHash(sum[:]), e.Proof, root); err != nil {
			fs.object(BundleProof, ref, "the event is not at leaf %d of the checkpoint's tree (size %d): %v", e.Index, size, err)
		}
	}
	if end := br.End(); end.Events != rep.EventsChecked {
		fs.object(BundleInvalid, lineRef(br.Line()), "the end line counts %d events; the bundle holds %d", end.Events, rep.EventsChecked)
	}
	return rep
}

func lineRef(n int) string { return "line " + strconv.Itoa(n) }
