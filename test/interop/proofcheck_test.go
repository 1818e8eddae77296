package interop

// This file checks a proof as a third party would: it imports only the Go
// standard library and the C2SP/RFC 6962 libraries, none of auditfn; the
// trail index proof it folds by hand, from docs/integrity.md §9, and it
// recomputes salted and redacted events' hashes by hand, from §10.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gowebpki/jcs"
	"github.com/transparency-dev/formats/log"
	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func leafHash(eventHash []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(eventHash) }

// checkWithStandardLibraries checks a C2SP tlog-proof of the event whose
// event hash is given: the checkpoint is signed by pub under origin, and
// the inclusion proof leads from the event's leaf to its root. It returns
// the checkpoint's size and text.
func checkWithStandardLibraries(text, eventHash []byte, origin string, pub ed25519.PublicKey) (uint64, []byte, error) {
	var p tproof.TLogProof
	if err := p.Unmarshal(text); err != nil {
		return 0, nil, err
	}
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return 0, nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return 0, nil, err
	}
	cp, _, _, err := log.ParseCheckpoint(p.Checkpoint, origin, v)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %w", err)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leafHash(eventHash), hashes, cp.Hash); err != nil {
		return 0, nil, err
	}
	return cp.Size, p.Checkpoint, nil
}

// bundleTrail is a bundle header's trail (docs/integrity.md §8–§9).
type bundleTrail struct {
	CorrelationID string `json:"correlationId"`
	Entry         *struct {
		Count   uint64 `json:"count"`
		Last    uint64 `json:"last"`
		Rolling string `json:"rolling"`
	} `json:"entry"`
	Proof struct {
		SideNodes [][]byte `json:"sideNodes"`
		OtherLeaf []byte   `json:"otherLeaf"`
	} `json:"proof"`
}

// trailRoot folds a trail entry's proof up to the index root, as
// docs/integrity.md §9 defines it: a leaf SHA-256(0x00 ‖ path ‖ value),
// inner nodes SHA-256(0x01 ‖ left ‖ right), the path's bit at each depth
// (most significant first) saying which side the node so far is on.
func trailRoot(t bundleTrail) ([]byte, error) {
	path := sha256.Sum256([]byte(t.CorrelationID))
	var node []byte
	switch {
	case t.Entry != nil:
		rolling, err := hex.DecodeString(t.Entry.Rolling)
		if err != nil {
			return nil, err
		}
		value := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, t.Entry.Count), t.Entry.Last)
		leaf := sha256.Sum256(append(append(append([]byte{0}, path[:]...), value...), rolling...))
		node = leaf[:]
	case t.Proof.OtherLeaf != nil:
		if bytes.Equal(t.Proof.OtherLeaf[1:33], path[:]) {
			return nil, fmt.Errorf("the other leaf is this trail's")
		}
		leaf := sha256.Sum256(t.Proof.OtherLeaf)
		node = leaf[:]
	default:
		node = make([]byte, 32)
	}
	for i, side := range t.Proof.SideNodes {
		depth := len(t.Proof.SideNodes) - 1 - i
		var h [32]byte
		if path[depth/8]>>(7-depth%8)&1 == 0 {
			h = sha256.Sum256(append(append([]byte{1}, node...), side...))
		} else {
			h = sha256.Sum256(append(append([]byte{1}, side...), node...))
		}
		node = h[:]
	}
	return node, nil
}

// checkBundleWithStandardLibraries checks an export bundle
// (docs/integrity.md §8): its checkpoint is signed by pub under origin, and
// each event, canonicalised with RFC 8785 and hashed, is at its index by its
// proof. With a trail, its entry's proof leads to the checkpoint's trail
// index root and the events make that entry: the bundle is the whole
// trail. It returns the number of events, and fails on a missing end line.
func checkBundleWithStandardLibraries(b []byte, origin string, pub ed25519.PublicKey) (int, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(nil, 4<<20)
	if !s.Scan() {
		return 0, fmt.Errorf("no header")
	}
	var header struct {
		Checkpoint string
		Trail      *bundleTrail
	}
	if err := json.Unmarshal(s.Bytes(), &header); err != nil {
		return 0, err
	}
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return 0, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return 0, err
	}
	cp, extensions, _, err := log.ParseCheckpoint([]byte(header.Checkpoint), origin, v)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if header.Trail != nil {
		root, err := trailRoot(*header.Trail)
		if err != nil {
			return 0, err
		}
		if !strings.Contains(string(extensions), "auditfn-trails "+base64.StdEncoding.EncodeToString(root)+"\n") {
			return 0, fmt.Errorf("the trail's proof does not lead to the checkpoint's trail index root")
		}
	}
	var trail []trailLeaf
	n := 0
	for s.Scan() {
		var line bundleLine
		if err := json.Unmarshal(s.Bytes(), &line); err != nil {
			return n, err
		}
		if line.End {
			return n, checkTrail(header.Trail, trail)
		}
		h, err := line.eventHash()
		if err != nil {
			return n, err
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, line.Index, cp.Size, leafHash(h[:]), line.Proof, cp.Hash); err != nil {
			return n, fmt.Errorf("event %s at %d: %w", hex.EncodeToString(h[:]), line.Index, err)
		}
		trail = append(trail, trailLeaf{line.Index, h})
		n++
	}
	return n, fmt.Errorf("no end line: truncated")
}

// bundleLine is an event's line of a bundle, or its end line.
type bundleLine struct {
	End      bool              `json:"end"`
	Index    uint64            `json:"index"`
	Event    json.RawMessage   `json:"event"`
	Salt     string            `json:"salt"`
	Salts    map[string]string `json:"salts"`
	Redacted map[string]string `json:"redacted"`
	Withheld bool              `json:"withheld"`
	Hash     string            `json:"eventHash"`
	Proof    [][]byte          `json:"proof"`
}

// eventHash recomputes the event hash: SHA-256(JCS(event)) for a plainly
// hashed event; for a salted one, SHA-256("auditfn-event-v2\n" ‖ JCS(C)),
// C being the event with every leaf (scalar, or empty object or array
// inside it) replaced by the hex of SHA-256(field salt ‖ JCS(leaf)), the
// field salt HMAC-SHA256(salt, the leaf's JSON Pointer), or given, or the
// commitment itself given where the event shows null. A withheld event
// has only its hash, which its proof alone checks.
func (l bundleLine) eventHash() ([32]byte, error) {
	if l.Withheld {
		h, err := hex.DecodeString(l.Hash)
		if err != nil || len(h) != 32 {
			return [32]byte{}, fmt.Errorf("withheld event: no hash")
		}
		return [32]byte(h), nil
	}
	if l.Salt == "" && l.Salts == nil {
		canon, err := jcs.Transform(l.Event)
		if err != nil {
			return [32]byte{}, err
		}
		return sha256.Sum256(canon), nil
	}
	salt, _ := hex.DecodeString(l.Salt)
	dec := json.NewDecoder(bytes.NewReader(l.Event))
	dec.UseNumber()
	var event any
	if err := dec.Decode(&event); err != nil {
		return [32]byte{}, err
	}
	escape := strings.NewReplacer("~", "~0", "/", "~1")
	var commit func(v any, ptr string) (any, error)
	commit = func(v any, ptr string) (any, error) {
		var err error
		switch x := v.(type) {
		case map[string]any:
			if len(x) > 0 || ptr == "" {
				for k := range x {
					if x[k], err = commit(x[k], ptr+"/"+escape.Replace(k)); err != nil {
						return nil, err
					}
				}
				return x, nil
			}
		case []any:
			if len(x) > 0 {
				for i := range x {
					if x[i], err = commit(x[i], fmt.Sprintf("%s/%d", ptr, i)); err != nil {
						return nil, err
					}
				}
				return x, nil
			}
		}
		if c, ok := l.Redacted[ptr]; ok {
			if v != nil {
				return nil, fmt.Errorf("%s: redacted, yet a value is shown", ptr)
			}
			return c, nil
		}
		fieldSalt, err := hex.DecodeString(l.Salts[ptr])
		if l.Salt != "" {
			mac := hmac.New(sha256.New, salt)
			mac.Write([]byte(ptr))
			fieldSalt, err = mac.Sum(nil), nil
		}
		if err != nil || len(fieldSalt) != 32 {
			return nil, fmt.Errorf("%s: no field salt", ptr)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		leaf, err := jcs.Transform(raw)
		if err != nil {
			return nil, err
		}
		c := sha256.Sum256(append(fieldSalt, leaf...))
		return hex.EncodeToString(c[:]), nil
	}
	committed, err := commit(event, "")
	if err != nil {
		return [32]byte{}, err
	}
	raw, err := json.Marshal(committed)
	if err != nil {
		return [32]byte{}, err
	}
	c, err := jcs.Transform(raw)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(append([]byte("auditfn-event-v2\n"), c...)), nil
}

// trailLeaf is a bundle event's leaf index and event hash.
type trailLeaf struct {
	index uint64
	hash  [32]byte
}

// checkTrail compares the bundle's events (leaf index, event hash) with
// the trail entry: count, newest leaf and the rolling hash in leaf order.
func checkTrail(t *bundleTrail, events []trailLeaf) error {
	if t == nil {
		return nil
	}
	sort.Slice(events, func(i, j int) bool { return events[i].index < events[j].index })
	rolling := make([]byte, 32)
	var last uint64
	for _, e := range events {
		r := sha256.Sum256(append(rolling, e.hash[:]...))
		rolling, last = r[:], e.index
	}
	if t.Entry == nil {
		if len(events) > 0 {
			return fmt.Errorf("the index holds no trail for %s, the bundle %d events", t.CorrelationID, len(events))
		}
		return nil
	}
	if t.Entry.Count != uint64(len(events)) || t.Entry.Last != last || t.Entry.Rolling != hex.EncodeToString(rolling) {
		return fmt.Errorf("the bundle holds %d events of %s; the checkpoint commits to %d", len(events), t.CorrelationID, t.Entry.Count)
	}
	return nil
}
