// Command catalogload loads a directory of ActionType and RemediationWorkflow
// YAML documents into the catalog tables (`make catalog`; `make run` loads
// infra/catalog). It runs as the schema owner: AUDITFN_PG_ADMIN_DSN. Invalid
// documents are rejected with the file, document and field named, and
// nothing is loaded. Running functions pick the change up at once.
//
//	catalogload DIR
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"function/shared/catalog"
	"function/shared/catalogstore"
	"function/shared/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "catalogload:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: catalogload DIR")
	}
	settings, err := config.FromEnvironment()
	if err != nil {
		return err
	}
	dsn, err := settings.Required("AUDITFN_PG_ADMIN_DSN")
	if err != nil {
		return err
	}
	c, err := catalog.LoadDir(os.DirFS(os.Args[1]))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := catalogstore.Save(ctx, conn, c.ActionTypes(), c.Workflows()); err != nil {
		return err
	}
	fmt.Printf("loaded %d action types and %d workflow versions from %s\n", len(c.ActionTypes()), len(c.Workflows()), os.Args[1])
	return nil
}
