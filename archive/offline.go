package archive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"

	"function/shared/auditevent"
	"function/shared/integrity"
)

// OfflineReport is what VerifyOffline checked and found.
type OfflineReport struct {
	Manifests   int      `json:"manifests"`
	Parts       int      `json:"parts"`
	Events      int      `json:"events"`
	Checkpoints int      `json:"checkpoints"`
	Problems    []string `json:"problems"`
}

// VerifyOffline checks a copy of the archive bucket (object keys as paths,
// e.g. from `mc mirror`) with no database: every manifest's signature with
// the public key it names, the manifest chain (positions 1..n, each naming
// its predecessor's SHA-256), every listed part's size, SHA-256, row count,
// ledger range and events digest, every event's recomputed hash, and every
// checkpoint's signature.
func VerifyOffline(ctx context.Context, fsys fs.FS) (OfflineReport, error) {
	rep := OfflineReport{Problems: []string{}}
	bad := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	verifySig := func(key, keyRef string) ([]byte, bool) {
		body, err := fs.ReadFile(fsys, key)
		if err != nil {
			bad("%s: %v", key, err)
			return nil, false
		}
		sig, err := fs.ReadFile(fsys, key+".sig")
		if err != nil {
			bad("%s: no signature: %v", key, err)
			return body, false
		}
		pemKey, err := fs.ReadFile(fsys, keyRef)
		if err != nil {
			bad("%s: signing key %s not found", key, keyRef)
			return body, false
		}
		pub, err := ParsePublicKey(pemKey)
		if err != nil || !ed25519.Verify(pub, body, sig) {
			bad("%s: signature does not verify with %s", key, keyRef)
			return body, false
		}
		return body, true
	}

	type stored struct {
		m   Manifest
		key string
		sum [32]byte
	}
	var chain []stored
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		switch {
		case strings.HasPrefix(p, checkpointPrefix):
			var cp Checkpoint
			body, _ := fs.ReadFile(fsys, p)
			if json.Unmarshal(body, &cp) != nil {
				bad("%s: not a checkpoint", p)
				return nil
			}
			rep.Checkpoints++
			verifySig(p, PublicKeyKey(cp.KeyID))
		case strings.HasPrefix(p, manifestPrefix):
			var m Manifest
			body, _ := fs.ReadFile(fsys, p)
			if json.Unmarshal(body, &m) != nil || m.Format != ManifestFormat {
				bad("%s: not a manifest", p)
				return nil
			}
			if _, ok := verifySig(p, m.SigningKey.Key); ok {
				chain = append(chain, stored{m, p, sha256.Sum256(body)})
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	slices.SortFunc(chain, func(a, b stored) int { return int(a.m.ChainSeq - b.m.ChainSeq) })
	rep.Manifests = len(chain)
	seen := map[string]bool{}
	for i, s := range chain {
		if s.m.ChainSeq != int64(i+1) {
			bad("%s: chain position %d, expected %d (a manifest is missing)", s.key, s.m.ChainSeq, i+1)
		}
		if i > 0 && (s.m.Previous == nil || s.m.Previous.Key != chain[i-1].key || s.m.Previous.SHA256 != hex.EncodeToString(chain[i-1].sum[:])) {
			bad("%s: does not link to the manifest before it (%s)", s.key, chain[i-1].key)
		}
		for _, part := range s.m.Parts {
			if seen[part.Key] {
				continue
			}
			seen[part.Key] = true
			rep.Parts++
			n, err := verifyPart(ctx, fsys, part)
			rep.Events += n
			if err != nil {
				bad("%s: %v", part.Key, err)
			}
		}
	}
	return rep, nil
}

// verifyPart checks one Parquet object against its manifest entry. It
// streams the object twice (digest, then rows) rather than holding it, and
// keeps about 64 bytes per event, so a day of any size verifies in bounded
// memory.
func verifyPart(ctx context.Context, fsys fs.FS, p ManifestPart) (int, error) {
	f, err := fsys.Open(path.Clean(p.Key))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	body, ok := f.(parquet.ReaderAtSeeker)
	if !ok {
		return 0, fmt.Errorf("the archive copy's files cannot be read at an offset")
	}
	sum := sha256.New()
	size, err := io.Copy(sum, io.NewSectionReader(body, 0, math.MaxInt64))
	if err != nil {
		return 0, err
	}
	if size != p.Size || hex.EncodeToString(sum.Sum(nil)) != p.SHA256 {
		return 0, fmt.Errorf("size or SHA-256 differs from the manifest")
	}
	// What the events digest needs of each event: its place and its hash.
	type event struct {
		seq  int64
		pos  int32
		hash []byte
	}
	var events []event
	var problems []string
	err = ReadParquet(ctx, body, func(r *auditevent.Record) error {
		if !bytes.Equal(integrity.EventHash(r), r.Hash) {
			problems = append(problems, fmt.Sprintf("event %s does not match its event_hash", r.ID))
		}
		if r.LedgerSeq <= p.LedgerSeqAfter || r.LedgerSeq > p.LedgerSeqThrough {
			problems = append(problems, fmt.Sprintf("event %s is outside the part's ledger range", r.ID))
		}
		events = append(events, event{r.LedgerSeq, r.LedgerPos, bytes.Clone(r.Hash)})
		return nil
	})
	if err != nil {
		return len(events), err
	}
	if int64(len(events)) != p.RowCount {
		problems = append(problems, fmt.Sprintf("%d rows, manifest says %d", len(events), p.RowCount))
	}
	slices.SortFunc(events, func(a, b event) int { return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.pos, b.pos)) })
	hashes := make([][]byte, len(events))
	for i := range events {
		hashes[i] = events[i].hash
	}
	if hex.EncodeToString(integrity.EventsDigest(hashes)) != p.EventsDigest {
		problems = append(problems, "events digest differs from the manifest")
	}
	if len(problems) > 0 {
		return len(events), fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return len(events), nil
}
