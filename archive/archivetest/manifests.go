package archivetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"function/archive/format"
)

// Get reads the current version of key.
func (e *Env) Get(t testing.TB, key string) []byte {
	t.Helper()
	return e.getVersion(t, key, "")
}

func (e *Env) getVersion(t testing.TB, key, version string) []byte {
	t.Helper()
	o, err := e.Bucket.Client(t).GetObject(context.Background(), e.Bucket.Name, key, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return b
}

// Manifests checks the manifest chain the way docs/archive.md tells an
// auditor to, and returns the manifests in chain order: chain positions
// 1..n without gaps, each naming its predecessor's SHA-256, each signature
// valid for the published key it names, and every listed object present
// with the listed size and SHA-256.
func (e *Env) Manifests(t testing.TB) []format.Manifest {
	t.Helper()
	type stored struct {
		m   format.Manifest
		key string
		sum [32]byte
	}
	var all []stored
	for _, key := range e.Keys(t, "audit_events/_manifests/") {
		if !strings.HasSuffix(key, ".json") {
			continue
		}
		body := e.Get(t, key)
		var m format.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		pub, err := format.ParsePublicKey(e.Get(t, m.SigningKey.Key))
		if err != nil {
			t.Fatalf("%s: key %s: %v", key, m.SigningKey.Key, err)
		}
		if !ed25519.Verify(pub, body, e.Get(t, key+".sig")) {
			t.Fatalf("%s: signature does not verify", key)
		}
		all = append(all, stored{m, key, sha256.Sum256(body)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].m.ChainSeq < all[j].m.ChainSeq })
	out := make([]format.Manifest, len(all))
	for i, s := range all {
		if s.m.ChainSeq != int64(i+1) {
			t.Fatalf("%s: chain position %d, want %d", s.key, s.m.ChainSeq, i+1)
		}
		if i == 0 && s.m.Previous != nil {
			t.Fatalf("%s: first manifest names a predecessor", s.key)
		}
		if i > 0 && (s.m.Previous == nil || s.m.Previous.Key != all[i-1].key || s.m.Previous.SHA256 != hex.EncodeToString(all[i-1].sum[:])) {
			t.Fatalf("%s: previous %+v, want %s with SHA-256 %x", s.key, s.m.Previous, all[i-1].key, all[i-1].sum)
		}
		for _, p := range s.m.Parts {
			st, err := e.Bucket.Client(t).StatObject(context.Background(), e.Bucket.Name, p.Key, minio.StatObjectOptions{VersionID: p.VersionID})
			if err != nil {
				t.Fatalf("%s lists %s: %v", s.key, p.Key, err)
			}
			sum := sha256.Sum256(e.getVersion(t, p.Key, p.VersionID))
			if st.Size != p.Size || hex.EncodeToString(sum[:]) != p.SHA256 {
				t.Fatalf("%s: %s is %d bytes %x, listed %d %s", s.key, p.Key, st.Size, sum, p.Size, p.SHA256)
			}
		}
		out[i] = s.m
	}
	return out
}
