package archive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive/format"
	"function/shared/tlog"
)

// TreePublisher publishes the tree's checkpoints and tiles to the archive's
// bucket, signed by the archive's key: one key and one bucket hold all the
// evidence. Objects are locked for the retention period.
func TreePublisher(ctx context.Context, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*tlog.Publisher, error) {
	c, err := New(ctx, pool, cfg, Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	return c.TreePublisher(logger), nil
}

// TreePublisher is the tree's publisher over the compactor's key and
// bucket, already loaded and opened.
func (c *Compactor) TreePublisher(logger *slog.Logger) *tlog.Publisher {
	return &tlog.Publisher{Pool: c.pool, Signer: c.tree, Store: c.store, Logger: logger,
		Retention: time.Duration(c.retention) * 24 * time.Hour,
		KeyKey:    format.PublicKeyKey(c.signer.KeyID), KeyPEM: c.signer.PublicPEM}
}

// treeSigner signs the tree's checkpoints with the archive's key, under the
// log's name.
func treeSigner(cfg Config, signer *Signer) (*tlog.Signer, error) {
	if cfg.Origin == "" {
		return nil, fmt.Errorf("setting %s: the log needs a name", SettingLogOrigin)
	}
	return tlog.NewSigner(cfg.Origin, signer.Public(), signer.Sign)
}
