package verify_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pokt-network/smt/kvstore/simplemap"
	"golang.org/x/mod/sumdb/note"

	"function/shared/bundle"
	"function/shared/tlog"
	"function/shared/trail"
	"function/shared/verify"
)

// A bundle is an auditor's input: whatever it holds, checking it ends in a
// report, and one that is not a well-formed bundle of a signed checkpoint
// has findings.
func FuzzBundle(f *testing.F) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	s, err := tlog.NewSigner("auditfn.fuzz/log", pub, func(m []byte) []byte { return ed25519.Sign(priv, m) })
	if err != nil {
		f.Fatal(err)
	}
	m := trail.Open(simplemap.NewSimpleMap(), nil)
	e := trail.Entry{}.Extend(0, make([]byte, 32))
	for _, id := range []string{"rr-1", "rr-2", "rr-3"} {
		if err := m.Update([]byte(id), e.Encode()); err != nil {
			f.Fatal(err)
		}
	}
	cp, err := s.Checkpoint(tlog.Head{Size: 1, Root: tlog.LeafHash(make([]byte, 32)), Trails: m.Root()}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	got, p, err := trail.Prove(m, "rr-2")
	if err != nil {
		f.Fatal(err)
	}
	header, _ := json.Marshal(bundle.Header{Bundle: bundle.Format, Origin: s.Name(), Checkpoint: string(cp.Note), Trail: bundle.NewTrail("rr-2", got, p)})
	f.Add(string(header) + "\n" + `{"index":0,"eventHash":"00","event":{"correlationId":"rr-2"},"proof":[]}` + "\n" + `{"end":true,"events":1,"pending":0}` + "\n")
	f.Add(string(header) + "\n")
	salted := `{"index":0,"eventHash":"00","event":{"correlationId":"rr-2","data":{"a":[1,{}]}},"salt":"` + strings.Repeat("ab", 32) + `","proof":[]}`
	redacted := `{"index":0,"eventHash":"00","event":{"correlationId":"rr-2","actorId":null},"salts":{"/correlationId":"` + strings.Repeat("01", 32) + `"},"redacted":{"/actorId":"` + strings.Repeat("02", 32) + `"},"proof":[]}`
	withheld := `{"index":0,"eventHash":"` + strings.Repeat("03", 32) + `","withheld":true,"proof":[]}`
	for _, line := range []string{salted, redacted, withheld} {
		f.Add(string(header) + "\n" + line + "\n" + `{"end":true,"events":1,"pending":0,"valuesRedacted":1}` + "\n")
	}
	f.Add(`{"bundle":"auditfn-bundle/v1","checkpoint":"x","trail":{"correlationId":"a","entry":{"count":1,"last":0,"rolling":"zz"},"proof":{"sideNodes":["AA=="],"otherLeaf":"AQ=="}}}` + "\n")
	v, err := note.NewVerifier(s.VerifierKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b string) {
		rep := verify.Bundle(bytes.NewReader([]byte(b)), "", []note.Verifier{v}, nil)
		if rep.TreeCheckpoints == 0 && len(rep.Findings) == 0 {
			t.Fatalf("a bundle without a verified checkpoint checked clean")
		}
	})
}
