// Command compact runs one archive compaction (`make compact`): every day
// partition older than the hot window goes to the Object Lock bucket as
// verified Parquet, then its partition is dropped. Settings come from
// .local/stack.env (-env; `make up` writes it, signing key included),
// overridden by the environment.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"function/archive"
	"function/shared/config"
	"function/shared/pgdb"
)

func main() {
	envFile := flag.String("env", filepath.Join(".local", "stack.env"), "settings file (KEY=VALUE lines); the environment overrides it")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *envFile); err != nil {
		log.Error("compact", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, envFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	settings, err := config.FromEnvironmentOver(envFile)
	if err != nil {
		return err
	}
	cfg, err := archive.ConfigFromSettings(settings)
	if err != nil {
		return err
	}
	dsn, err := settings.Required(config.PGDSN)
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	c, err := archive.New(ctx, pool, cfg, archive.Options{Logger: log})
	if err != nil {
		return err
	}
	rep, err := c.Run(ctx)
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	return err
}
