// Package config reads function settings from func-go's cfg map (the
// environment overlaid on an optional ./cfg file). Every function reads the
// same names (SPEC §2); a missing required setting stops start-up with an
// error naming it.
package config

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Setting names shared by the functions.
const (
	Function    = "AUDITFN_FUNCTION"
	PGDSN       = "AUDITFN_PG_DSN"
	Sink        = "K_SINK"
	S3Endpoint  = "AUDITFN_S3_ENDPOINT"
	S3AccessKey = "AUDITFN_S3_ACCESS_KEY"
	S3SecretKey = "AUDITFN_S3_SECRET_KEY"
	S3Bucket    = "AUDITFN_S3_BUCKET"
)

// Config is a function's settings.
type Config map[string]string

// Required returns the value of name or an error naming it.
func (c Config) Required(name string) (string, error) {
	v := c[name]
	if v == "" {
		return "", fmt.Errorf("missing required setting %s", name)
	}
	return v, nil
}

// Int returns name as a positive integer, def when unset.
func (c Config) Int(name string, def int) (int, error) {
	v, ok := c[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("setting %s=%q: must be a positive integer", name, v)
	}
	return n, nil
}

// Duration returns name as a positive Go duration ("250ms", "5s"), def when unset.
func (c Config) Duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := c[name]
	if !ok || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("setting %s=%q: must be a positive duration such as 500ms", name, v)
	}
	return d, nil
}

// ReadFile reads KEY=VALUE lines (blank lines and # comments skipped), the
// format of .local/stack.env and func-go's cfg file.
func ReadFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := Config{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			c[k] = v
		}
	}
	return c, sc.Err()
}
