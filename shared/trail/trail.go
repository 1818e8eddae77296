// Package trail defines the trail index (docs/integrity.md §9): a sparse
// Merkle map from each correlation id to what its events are in the tree,
// so that a remediation's trail can be proved complete, not only intact.
// Each checkpoint commits to the map's root in an extension line. The map
// is pokt-network/smt's sparse Merkle trie over SHA-256, values stored
// raw; this package holds the definitions every party shares: the key, the
// value, its extension, the line and the proof.
package trail

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore"
)

// Entry is a correlation id's value in the map: how many of its events the
// tree holds, the leaf index of the newest, and the rolling hash of their
// event hashes in leaf order.
type Entry struct {
	Count   uint64
	Last    uint64
	Rolling [sha256.Size]byte
}

// EntrySize is the length of an encoded entry.
const EntrySize = 8 + 8 + sha256.Size

// Extend is the entry once the event at leaf with eventHash is added:
// Rolling' = SHA-256(Rolling ‖ eventHash), starting from 32 zero bytes.
func (e Entry) Extend(leaf uint64, eventHash []byte) Entry {
	h := sha256.New()
	h.Write(e.Rolling[:])
	h.Write(eventHash)
	out := Entry{Count: e.Count + 1, Last: leaf}
	h.Sum(out.Rolling[:0])
	return out
}

// Encode is the map's value: count ‖ last (8 bytes each, big-endian) ‖
// rolling.
func (e Entry) Encode() []byte {
	b := make([]byte, 0, EntrySize)
	b = binary.BigEndian.AppendUint64(b, e.Count)
	b = binary.BigEndian.AppendUint64(b, e.Last)
	return append(b, e.Rolling[:]...)
}

// Decode reads an encoded entry.
func Decode(b []byte) (Entry, error) {
	if len(b) != EntrySize {
		return Entry{}, fmt.Errorf("a trail entry is %d bytes, not %d", EntrySize, len(b))
	}
	e := Entry{Count: binary.BigEndian.Uint64(b), Last: binary.BigEndian.Uint64(b[8:])}
	copy(e.Rolling[:], b[16:])
	return e, nil
}

// Of is the entry a trail's events make: their leaf indices and event
// hashes, in any order (they are taken in leaf order).
func Of(leaves []uint64, hashes [][]byte) Entry {
	order := make([]int, len(leaves))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(leaves[i], leaves[j]) })
	var e Entry
	for _, i := range order {
		e = e.Extend(leaves[i], hashes[i])
	}
	return e
}

// spec is the trie's hashing: path = SHA-256(correlation id), leaf =
// SHA-256(0x00 ‖ path ‖ value), inner = SHA-256(0x01 ‖ left ‖ right), an
// empty subtree 32 zero bytes, and a subtree of one entry its leaf. A spec
// holds a hash state, so each user makes its own.
func spec() smt.TrieSpec {
	return smt.NewTrieSpec(sha256.New(), false, smt.WithValueHasher(nil))
}

// EmptyRoot is the root of the empty map.
func EmptyRoot() []byte { return make([]byte, sha256.Size) }

// Open is the map of root over the nodes in store (digest → node, as the
// trie writes them); an empty root is the empty map.
func Open(store kvstore.MapStore, root []byte) *smt.SMT {
	if len(root) == 0 || bytes.Equal(root, EmptyRoot()) {
		return smt.NewSparseMerkleTrie(store, sha256.New(), smt.WithValueHasher(nil))
	}
	return smt.ImportSparseMerkleTrie(store, sha256.New(), root, smt.WithValueHasher(nil))
}

// Get is correlationID's entry in the map; ok is false when it has none.
func Get(m *smt.SMT, correlationID string) (e Entry, ok bool, err error) {
	v, err := m.Get([]byte(correlationID))
	if err != nil || len(v) == 0 {
		return Entry{}, false, err
	}
	e, err = Decode(v)
	return e, err == nil, err
}

// Proof proves a correlation id's entry in the map, or that it has none: the
// side nodes from the leaf up, and for an absence shown by another entry's
// leaf on the path, that leaf's node (0x00 ‖ path ‖ value).
type Proof struct {
	SideNodes [][]byte `json:"sideNodes"`
	OtherLeaf []byte   `json:"otherLeaf,omitempty"`
}

// Prove is correlationID's entry (nil: none) and its proof in m.
func Prove(m *smt.SMT, correlationID string) (*Entry, Proof, error) {
	p, err := m.Prove([]byte(correlationID))
	if err != nil {
		return nil, Proof{}, err
	}
	e, ok, err := Get(m, correlationID)
	if err != nil {
		return nil, Proof{}, err
	}
	out := Proof{SideNodes: p.SideNodes, OtherLeaf: p.NonMembershipLeafData}
	if !ok {
		return nil, out, nil
	}
	return &e, out, nil
}

// ErrProof means a proof does not lead to the root.
var ErrProof = errors.New("the trail proof does not lead to the index root")

// Verify checks that the map of root holds e for correlationID, or, e nil,
// no entry for it.
func (p Proof) Verify(root []byte, correlationID string, e *Entry) error {
	var value []byte
	if e != nil {
		value = e.Encode()
	}
	s := spec()
	ok, err := smt.VerifyProof(&smt.SparseMerkleProof{SideNodes: p.SideNodes, NonMembershipLeafData: p.OtherLeaf},
		root, []byte(correlationID), value, &s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	if !ok {
		return ErrProof
	}
	return nil
}

// LinePrefix starts the checkpoint extension line that carries the root.
const LinePrefix = "auditfn-trails "

// Line is the extension line for root, without its newline.
func Line(root []byte) string { return LinePrefix + base64.StdEncoding.EncodeToString(root) }

// ErrNoLine means a checkpoint carries no trail index line.
var ErrNoLine = errors.New("the checkpoint commits to no trail index")

// RootOf is the root a checkpoint's extension lines (the note text after
// its third line) commit to.
func RootOf(extensions []byte) ([]byte, error) {
	for _, l := range strings.Split(string(extensions), "\n") {
		if enc, ok := strings.CutPrefix(l, LinePrefix); ok {
			root, err := base64.StdEncoding.DecodeString(enc)
			if err != nil || len(root) != sha256.Size {
				return nil, fmt.Errorf("bad trail index line %q", l)
			}
			return root, nil
		}
	}
	return nil, ErrNoLine
}
