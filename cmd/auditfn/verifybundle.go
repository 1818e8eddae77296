package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"function/archive/format"
	"function/shared/bundle"
	"function/shared/verify"
)

// verifyBundle is `auditfn verify-bundle [-key PEM]… [-vkey KEY]… [-origin O] [-witnesses POLICY] FILE`:
// it checks an export bundle with the public keys alone, prints a JSON
// report and exits 1 when anything is found, 2 when it cannot check.
func verifyBundle(args []string) int {
	fl := flag.NewFlagSet("verify-bundle", flag.ContinueOnError)
	var pems, vkeys list
	fl.Var(&pems, "key", "a public key `PEM` file (as published at audit_events/_manifests/keys/); repeat for several")
	fl.Var(&vkeys, "vkey", "a note verifier `KEY` (origin+hash+base64); repeat for several")
	origin := fl.String("origin", "", "the log's name the checkpoint must carry (default: the bundle's own, printed in the report)")
	policyFile := fl.String("witnesses", "", "a witness policy `FILE` (formats/witness: witness, group and quorum lines) the checkpoint's cosignatures must satisfy")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 || len(pems)+len(vkeys) == 0 {
		fmt.Fprintln(os.Stderr, "usage: auditfn verify-bundle -key PUBLIC.pem [-origin ORIGIN] BUNDLE (- for standard input)")
		return 2
	}
	in := io.Reader(os.Stdin)
	if name := fl.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "verify-bundle:", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	// The origin the keys are bound to: the one asked for, or the bundle's.
	peek := &peekReader{r: in}
	if *origin == "" {
		h, err := bundle.NewReader(io.LimitReader(peek, 1<<20))
		if err == nil {
			*origin = h.Header.Origin
		}
	}
	verifiers, err := keys(pems, vkeys, *origin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify-bundle:", err)
		return 2
	}
	var policy *witness.Group
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err == nil {
			var p witness.Group
			if p, err = witness.ParsePolicy(b); err == nil {
				policy = &p
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "verify-bundle: witness policy:", err)
			return 2
		}
	}
	rep := verify.Bundle(peek.replay(), *origin, verifiers, policy)
	out, _ := json.MarshalIndent(struct {
		OK     bool   `json:"ok"`
		Origin string `json:"origin"`
		verify.Report
	}{rep.OK(), *origin, rep}, "", "  ")
	fmt.Println(string(out))
	if !rep.OK() {
		return 1
	}
	return 0
}

func keys(pems, vkeys []string, origin string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, path := range pems {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		pub, err := format.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		vkey, err := note.NewEd25519VerifierKey(origin, pub)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", origin, err)
		}
		vkeys = append(vkeys, vkey)
	}
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// peekReader keeps what was read, to read it again: the header is read
// once for its origin, then the whole bundle is checked.
type peekReader struct {
	r    io.Reader
	seen []byte
}

func (p *peekReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.seen = append(p.seen, b[:n]...)
	return n, err
}

func (p *peekReader) replay() io.Reader {
	return io.MultiReader(strings.NewReader(string(p.seen)), p.r)
}
