package interop

// This file checks a proof as a third party would: it imports only the Go
// standard library and the C2SP/RFC 6962 libraries, none of auditfn.

import (
	"crypto/ed25519"
	"fmt"

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
