package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"function/shared/bundle"
	"function/shared/parallel"
	"function/shared/tlog"
	"function/shared/trail"
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
	tc := newBundleTrail(br.Header.Trail, size, &fs)
	seen := map[uint64]bool{}
	var readErr error
	read := func(ctx context.Context, emit func(*bundleLine) error) error {
		for {
			e, err := br.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				readErr = err
				return nil
			}
			if err := emit(&bundleLine{Entry: e, ref: lineRef(br.Line())}); err != nil {
				return err
			}
		}
	}
	take := func(l *bundleLine) error {
		rep.EventsChecked++
		rep.ValuesRedacted += len(l.Redacted)
		if l.Withheld {
			rep.EventsWithheld++
		}
		if l.problem != "" {
			fs.object(BundleEvent, l.ref, "%s", l.problem)
		}
		if l.sum == nil {
			return nil
		}
		if seen[l.Index] {
			fs.object(BundleEvent, l.ref, "a second event at leaf %d", l.Index)
		}
		seen[l.Index] = true
		if l.proofErr != nil {
			fs.object(BundleProof, l.ref, "the event is not at leaf %d of the checkpoint's tree (size %d): %v", l.Index, size, l.proofErr)
		}
		tc.event(l.ref, l.Entry, *l.sum)
		return nil
	}
	// Lines are hashed and their proofs checked on every CPU, then taken
	// in bundle order, so the findings are the same however they ran.
	_ = parallel.Ordered(context.Background(), read, func(l *bundleLine) error { l.check(size, root); return nil }, take)
	if readErr != nil {
		fs.object(BundleInvalid, lineRef(br.Line()), "%v", readErr)
		return rep
	}
	switch end := br.End(); {
	case end.Events != rep.EventsChecked:
		fs.object(BundleInvalid, lineRef(br.Line()), "the end line counts %d events; the bundle holds %d", end.Events, rep.EventsChecked)
	case end.Redacted != rep.ValuesRedacted || end.Withheld != rep.EventsWithheld:
		fs.object(BundleInvalid, lineRef(br.Line()), "the end line counts %d values redacted and %d events withheld; the bundle holds %d and %d",
			end.Redacted, end.Withheld, rep.ValuesRedacted, rep.EventsWithheld)
	}
	rep.Trail = tc.check([]byte(br.Header.Checkpoint))
	return rep
}

// bundleLine is an event line and what checking it found.
type bundleLine struct {
	bundle.Entry
	ref      string
	sum      *[sha256.Size]byte // the event hash its proof is checked for; nil if none
	problem  string             // why its content does not give its eventHash
	proofErr error
}

// check recomputes the line's event hash (a withheld event has only the
// one given) and checks its proof against the tree of size and root.
func (l *bundleLine) check(size uint64, root []byte) {
	hash, err := l.Hash()
	switch {
	case errors.Is(err, bundle.ErrWithheld):
		if hash, err = hex.DecodeString(l.EventHash); err != nil || len(hash) != sha256.Size {
			l.problem = "the withheld event's eventHash is not 32 bytes of hex"
			return
		}
	case err != nil:
		l.problem = err.Error()
		return
	case hex.EncodeToString(hash) != l.EventHash:
		l.problem = "the event's content does not hash to its eventHash: altered"
	}
	sum := [sha256.Size]byte(hash)
	l.sum = &sum
	l.proofErr = proof.VerifyInclusion(rfc6962.DefaultHasher, l.Index, size, tlog.LeafHash(sum[:]), l.Proof, root)
}

// bundleTrail checks that a bundle with a trail holds exactly the events
// the checkpoint's trail index commits to for its correlation id.
type bundleTrail struct {
	t      *bundle.Trail
	size   uint64
	fs     *findings
	leaves []uint64
	hashes [][]byte
	before int // findings before the trail's
}

func newBundleTrail(t *bundle.Trail, size uint64, fs *findings) *bundleTrail {
	return &bundleTrail{t: t, size: size, fs: fs, before: len(*fs)}
}

func (b *bundleTrail) event(ref string, e bundle.Entry, sum [32]byte) {
	if b.t == nil {
		return
	}
	var ev struct {
		CorrelationID string `json:"correlationId"`
	}
	// A withheld event shows no correlation id: the rolling hash shows it
	// is the trail's.
	if !e.Withheld && (json.Unmarshal(e.Event, &ev) != nil || ev.CorrelationID != b.t.CorrelationID) {
		b.fs.object(BundleEvent, ref, "the event is not of the trail %s", b.t.CorrelationID)
	}
	b.leaves, b.hashes = append(b.leaves, e.Index), append(b.hashes, sum[:])
}

// check compares the events read with the entry, whose proof it checks
// against the root the (verified) checkpoint commits to.
func (b *bundleTrail) check(checkpoint []byte) *Trail {
	if b.t == nil {
		return nil
	}
	t := &Trail{CorrelationID: b.t.CorrelationID, Checkpoint: b.size, Events: len(b.leaves)}
	want, err := b.t.Committed()
	if err == nil {
		var root []byte
		if root, err = tlog.TrailsRoot(checkpoint); err == nil {
			err = b.t.Proof.Verify(root, b.t.CorrelationID, want)
		}
	}
	if err != nil {
		b.fs.object(TrailIndex, "line 1", "the bundle's trail entry is not the one its checkpoint commits to: %v", err)
	} else {
		if want == nil {
			want = &trail.Entry{}
		}
		t.Committed = want.Count
		if got := trail.Of(b.leaves, b.hashes); got != *want {
			b.fs.object(TrailIncomplete, "line 1", "checkpoint %d commits to %d events of %s, the newest at leaf %d; the bundle holds %d (newest at leaf %d)%s",
				b.size, want.Count, b.t.CorrelationID, want.Last, got.Count, got.Last, sameCount(got, *want))
		}
	}
	t.Complete = len(*b.fs) == b.before
	return t
}

func sameCount(got, want trail.Entry) string {
	if got.Count == want.Count {
		return ", but not the ones committed to"
	}
	return ": events left out, moved or hidden"
}

func lineRef(n int) string { return "line " + strconv.Itoa(n) }
