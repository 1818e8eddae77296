package archive

import (
	"fmt"

	"function/archive/bucket"
	"function/shared/config"
)

// Settings the archive reads (SPEC §2 names), beside config.S3*.
const (
	SettingSigningKey    = "AUDITFN_ARCHIVE_SIGNING_KEY" // path of the ed25519 private key (PKCS#8 PEM)
	SettingHotDays       = "AUDITFN_HOT_DAYS"            // days kept hot, default 7
	SettingRetentionDays = "AUDITFN_RETENTION_DAYS"      // Object Lock days after the event date, default 365, minimum 90
	SettingLogOrigin     = "AUDITFN_LOG_ORIGIN"          // the tree's name in its checkpoints, default auditfn.local/<bucket>
)

// Defaults and limits.
const (
	DefaultHotDays       = 7
	DefaultRetentionDays = 365
	MinRetentionDays     = 90
)

// Config is where and how the archive is written.
type Config struct {
	Bucket bucket.Config
	// SigningKeyPath is a PKCS#8 PEM ed25519 private key (openssl genpkey -algorithm ed25519).
	SigningKeyPath string
	HotDays        int
	RetentionDays  int
	// Origin names the log in its checkpoints (C2SP tlog-checkpoint): a
	// schema-less URL unique to this deployment, which auditors pin with
	// the public key.
	Origin string
}

// Configured tells whether the settings ask for the archive at all: the
// signing key is the one setting only the archive uses.
func Configured(c config.Config) bool { return c[SettingSigningKey] != "" }

// ConfigFromSettings reads the archive settings; every one is required but
// the day counts, and the retention may not be under MinRetentionDays.
func ConfigFromSettings(c config.Config) (Config, error) {
	var cfg Config
	var err error
	if cfg.Bucket, err = bucket.FromSettings(c); err != nil {
		return Config{}, err
	}
	if cfg.SigningKeyPath, err = c.Required(SettingSigningKey); err != nil {
		return Config{}, err
	}
	if cfg.HotDays, err = c.Int(SettingHotDays, DefaultHotDays); err != nil {
		return Config{}, err
	}
	if cfg.RetentionDays, err = c.Int(SettingRetentionDays, DefaultRetentionDays); err != nil {
		return Config{}, err
	}
	cfg.Origin = c[SettingLogOrigin]
	if cfg.Origin == "" {
		cfg.Origin = "auditfn.local/" + cfg.Bucket.Bucket
	}
	return cfg, cfg.validate()
}

func (cfg Config) validate() error {
	if cfg.HotDays < 1 {
		return fmt.Errorf("setting %s=%d: must be at least 1", SettingHotDays, cfg.HotDays)
	}
	if cfg.RetentionDays < MinRetentionDays {
		return fmt.Errorf("setting %s=%d: must be at least %d days", SettingRetentionDays, cfg.RetentionDays, MinRetentionDays)
	}
	return nil
}
