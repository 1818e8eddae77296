// Command compact runs one archive compaction (`make compact`): every day
// partition older than the hot window goes to the Object Lock bucket as
// verified Parquet, then its partition is dropped. Settings come from
// .local/stack.env (-env; `make up` writes it, signing key included),
// overridden by the environment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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
	settings, err := readSettings(envFile)
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

// readSettings reads KEY=VALUE lines from path, if it exists, and lays the
// AUDITFN_* environment over them.
func readSettings(path string) (config.Config, error) {
	settings, err := config.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		settings = config.Config{}
	case err != nil:
		return nil, err
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "AUDITFN_") {
			settings[k] = v
		}
	}
	return settings, nil
}
