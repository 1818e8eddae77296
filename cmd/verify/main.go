// Command verify is `make verify`: the integrity check an auditor runs,
// through the one verifier (shared/verify).
//
//	verify                 the whole log: the hot chain with the archived
//	                       events of every batch, every manifest and their
//	                       chain, and the ledger head against the newest
//	                       signed checkpoint, from the settings in the
//	                       environment (make verify passes .local/stack.env);
//	                       with AUDITFN_WITNESS_POLICY, the newest tree
//	                       checkpoint's cosignatures against its quorum
//	verify -archive DIR    a downloaded copy of the archive bucket (DIR holds
//	                       audit_events/), with no database: manifests, their
//	                       chain and signatures, every part and event, every
//	                       checkpoint's signature
//
// It prints a JSON report and exits 1 when anything is found, 2 when it
// cannot verify at all.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"function/shared/auditlog"
	"function/shared/config"
	"function/shared/pgdb"
	"function/shared/verify"
)

func main() {
	dir := flag.String("archive", "", "verify a downloaded archive in `DIR` (the folder holding audit_events/) instead of the live stores")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var (
		rep verify.Report
		err error
	)
	if *dir != "" {
		rep, err = offline(ctx, *dir)
	} else {
		rep, err = live(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		os.Exit(2)
	}
	out, _ := json.MarshalIndent(struct {
		OK bool `json:"ok"`
		verify.Report
	}{rep.OK(), rep}, "", "  ")
	fmt.Println(string(out))
	if !rep.OK() {
		os.Exit(1)
	}
}

func offline(ctx context.Context, dir string) (verify.Report, error) {
	if info, err := os.Stat(dir); err != nil {
		return verify.Report{}, fmt.Errorf("archive copy %s: %w", dir, err)
	} else if !info.IsDir() {
		return verify.Report{}, fmt.Errorf("archive copy %s is not a folder", dir)
	}
	return verify.Offline(verify.Dir(os.DirFS(dir), dir)).Verify(ctx, verify.Scope{})
}

func live(ctx context.Context) (verify.Report, error) {
	settings, err := config.FromEnvironment()
	if err != nil {
		return verify.Report{}, err
	}
	dsn, err := settings.Required(config.PGDSN)
	if err != nil {
		return verify.Report{}, err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return verify.Report{}, err
	}
	defer pool.Close()
	log, err := auditlog.Open(ctx, pool, settings)
	if err != nil {
		return verify.Report{}, err
	}
	return log.Verify(ctx, verify.Scope{})
}
