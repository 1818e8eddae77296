package archive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive/bucket"
	"function/archive/format"
	"function/shared/tlog"
)

// TreePublisher publishes the tree's checkpoints and tiles to the archive's
// bucket, signed by the archive's key: one key and one bucket hold all the
// evidence. Objects are locked for the retention period.
func TreePublisher(ctx context.Context, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*tlog.Publisher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	signer, err := LoadSigner(cfg.SigningKeyPath)
	if err != nil {
		return nil, err
	}
	ns, err := treeSigner(cfg, signer)
	if err != nil {
		return nil, err
	}
	st, err := bucket.Open(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	return &tlog.Publisher{Pool: pool, Signer: ns, Store: st, Logger: logger,
		Retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour,
		KeyKey:    format.PublicKeyKey(signer.KeyID), KeyPEM: signer.PublicPEM}, nil
}

// treeSigner signs the tree's checkpoints with the archive's key, under the
// log's name.
func treeSigner(cfg Config, signer *Signer) (*tlog.Signer, error) {
	if cfg.Origin == "" {
		return nil, fmt.Errorf("setting %s: the log needs a name", SettingLogOrigin)
	}
	return tlog.NewSigner(cfg.Origin, signer.Public(), signer.Sign)
}
