package tlog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"function/shared/pgdb"
	"function/shared/trail"
)

// Signer signs checkpoints as a C2SP signed note: an Ed25519 signature by
// the key named origin, the log's name. It is the archive's signing key
// (a sign function and its public key), so one key stands behind the
// manifests and the tree.
type Signer struct {
	name string
	hash uint32
	sign func([]byte) []byte
	// VerifierKey is the note verifier key an auditor pins:
	// <origin>+<key hash>+<base64 of 0x01 ‖ public key>.
	VerifierKey string
}

// NewSigner is the note signer for origin over an Ed25519 key.
func NewSigner(origin string, pub ed25519.PublicKey, sign func([]byte) []byte) (*Signer, error) {
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("log origin %q: %w", origin, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &Signer{name: origin, hash: v.KeyHash(), sign: sign, VerifierKey: vkey}, nil
}

// Name is the log's origin.
func (s *Signer) Name() string { return s.name }

// KeyHash is the note key hash of the verifier key.
func (s *Signer) KeyHash() uint32 { return s.hash }

// Sign signs a note's text.
func (s *Signer) Sign(msg []byte) ([]byte, error) { return s.sign(msg), nil }

// Checkpoint is one signed checkpoint: the tree of Size leaves has Root.
type Checkpoint struct {
	Size     uint64
	Root     []byte
	Note     []byte // the signed note, as published
	SignedAt time.Time
	// Cosignatures is how many witness cosignature lines Latest appended
	// to Note.
	Cosignatures int
}

// Checkpoint makes the checkpoint of head: C2SP tlog-checkpoint's body
// (origin, size, base64 root), then the trail index line when head has
// one, signed as a note.
func (s *Signer) Checkpoint(head Head, now time.Time) (Checkpoint, error) {
	body := log.Checkpoint{Origin: s.name, Size: head.Size, Hash: head.Root}.Marshal()
	if head.Trails != nil {
		body = append(body, trail.Line(head.Trails)+"\n"...)
	}
	signed, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Size: head.Size, Root: head.Root, Note: signed, SignedAt: now}, nil
}

// Checkpoints are the stored checkpoints with size in (after, through],
// in size order.
func Checkpoints(ctx context.Context, q pgdb.Querier, after, through uint64) ([]Checkpoint, error) {
	return readCheckpoints(ctx, q, `SELECT size, root, note, signed_at FROM audit.tree_checkpoints
		WHERE size > $1 AND size <= $2 ORDER BY size`, after, through)
}

func readCheckpoints(ctx context.Context, q pgdb.Querier, sql string, args ...any) ([]Checkpoint, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("tree checkpoints: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := r.Scan(&c.Size, &c.Root, &c.Note, &c.SignedAt)
		return c, err
	})
}

// ErrNoCheckpoint means no checkpoint has been signed yet.
var ErrNoCheckpoint = errors.New("no tree checkpoint yet")

// Latest is the newest stored checkpoint, its note with the witnesses'
// cosignatures received so far (the log's note alone when none).
func Latest(ctx context.Context, q pgdb.Querier) (Checkpoint, error) {
	c, err := latest(ctx, q)
	if err != nil {
		return c, err
	}
	return withCosignatures(ctx, q, c)
}

// latest is the newest stored checkpoint, the log's note alone.
func latest(ctx context.Context, q pgdb.Querier) (Checkpoint, error) {
	cps, err := Newest(ctx, q, 1)
	if err != nil {
		return Checkpoint{}, err
	}
	if len(cps) == 0 {
		return Checkpoint{}, ErrNoCheckpoint
	}
	return cps[0], nil
}

// Newest are the n newest stored checkpoints, the log's notes alone, in
// size order.
func Newest(ctx context.Context, q pgdb.Querier, n int) ([]Checkpoint, error) {
	return readCheckpoints(ctx, q, `SELECT * FROM (SELECT size, root, note, signed_at FROM audit.tree_checkpoints
		ORDER BY size DESC LIMIT $1) c ORDER BY size`, n)
}

// Open checks a checkpoint note's signature by one of verifiers under
// origin, and returns its size and root.
func Open(signed []byte, origin string, verifiers []note.Verifier) (uint64, []byte, error) {
	err := errors.New("no checkpoint verifier key")
	for _, v := range verifiers { // one per published key: rotation keeps the old ones
		var cp *log.Checkpoint
		if cp, _, _, err = log.ParseCheckpoint(signed, origin, v); err == nil {
			return cp.Size, cp.Hash, nil
		}
	}
	return 0, nil, err
}

// Origin is the origin line of a checkpoint note.
func Origin(signed []byte) string {
	line, _, _ := strings.Cut(string(signed), "\n")
	return line
}

// SignatureLines are who signed a note: each signature line's key name and
// key hash, verified or not.
func SignatureLines(signed []byte) []note.Signature {
	_, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return unverified.Note.UnverifiedSigs
	}
	return nil
}

// TrailsRoot is the trail index root a checkpoint note commits to
// (trail.ErrNoLine: none, as before the index existed). It reads the note's
// text unverified: open the note first.
func TrailsRoot(signed []byte) ([]byte, error) {
	text, _, ok := strings.Cut(string(signed), "\n\n")
	if !ok {
		return nil, errors.New("not a signed note")
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(text + "\n"))
	if err != nil {
		return nil, err
	}
	return trail.RootOf(rest)
}
