// Command verify is `make verify`: the integrity check an auditor runs.
//
//	verify                 the whole hot chain, the archived events of every
//	                       batch, and the newest signed checkpoint, from the
//	                       settings in the environment (make verify passes
//	                       .local/stack.env)
//	verify -archive DIR    a downloaded copy of the archive bucket, with no
//	                       database: manifests, their chain and signatures,
//	                       every part and event, checkpoint signatures
//
// It prints a JSON report and exits 1 when anything fails.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"function/archive"
	"function/shared/auditstore"
	"function/shared/config"
	"function/shared/pgdb"
)

func main() {
	dir := flag.String("archive", "", "verify a downloaded archive in `DIR` instead of the live stores")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var (
		report any
		ok     bool
		err    error
	)
	if *dir != "" {
		var rep archive.OfflineReport
		rep, err = archive.VerifyOffline(ctx, os.DirFS(*dir))
		report, ok = rep, len(rep.Problems) == 0
	} else {
		report, ok, err = live(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		os.Exit(2)
	}
	out, _ := json.MarshalIndent(report, "", "  ")
	fmt.Println(string(out))
	if !ok {
		os.Exit(1)
	}
}

type liveReport struct {
	EventsChecked int                  `json:"eventsChecked"`
	Findings      []auditstore.Finding `json:"findings"`
}

func live(ctx context.Context) (liveReport, bool, error) {
	settings, err := config.FromEnvironment()
	if err != nil {
		return liveReport{}, false, err
	}
	dsn, err := settings.Required(config.PGDSN)
	if err != nil {
		return liveReport{}, false, err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return liveReport{}, false, err
	}
	defer pool.Close()
	var archived auditstore.Archived
	var reader *archive.Reader
	if archive.ReaderConfigured(settings) {
		if reader, err = archive.NewReader(ctx, pool, settings); err != nil {
			return liveReport{}, false, err
		}
		archived = reader
	}
	findings, checked, err := auditstore.Verify(ctx, pool, auditstore.Scope{}, archived)
	if err != nil {
		return liveReport{}, false, err
	}
	if reader != nil {
		head, err := reader.CheckHead(ctx)
		if err != nil {
			return liveReport{}, false, err
		}
		findings = append(findings, head...)
	}
	if findings == nil {
		findings = []auditstore.Finding{}
	}
	return liveReport{EventsChecked: checked, Findings: findings}, len(findings) == 0, nil
}
