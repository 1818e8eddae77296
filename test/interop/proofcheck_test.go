package interop

// This file checks a proof as a third party would: it imports only the Go
// standard library and the C2SP/RFC 6962 libraries, none of auditfn.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

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

// checkBundleWithStandardLibraries checks an export bundle
// (docs/integrity.md §8): its checkpoint is signed by pub under origin, and
// each event, canonicalised with RFC 8785 and hashed, is at its index by its
// proof. It returns the number of events, and fails on a missing end line.
func checkBundleWithStandardLibraries(b []byte, origin string, pub ed25519.PublicKey) (int, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(nil, 4<<20)
	if !s.Scan() {
		return 0, fmt.Errorf("no header")
	}
	var header struct{ Checkpoint string }
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
	cp, _, _, err := log.ParseCheckpoint([]byte(header.Checkpoint), origin, v)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	n := 0
	for s.Scan() {
		var line struct {
			End   bool            `json:"end"`
			Index uint64          `json:"index"`
			Event json.RawMessage `json:"event"`
			Proof [][]byte        `json:"proof"`
		}
		if err := json.Unmarshal(s.Bytes(), &line); err != nil {
			return n, err
		}
		if line.End {
			return n, nil
		}
		canon, err := jcs.Transform(line.Event)
		if err != nil {
			return n, err
		}
		h := sha256.Sum256(canon)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, line.Index, cp.Size, leafHash(h[:]), line.Proof, cp.Hash); err != nil {
			return n, fmt.Errorf("event %s at %d: %w", hex.EncodeToString(h[:]), line.Index, err)
		}
		n++
	}
	return n, fmt.Errorf("no end line: truncated")
}
