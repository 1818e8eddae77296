// Package config reads settings: a function's from func-go's cfg map, a
// command's from FromEnvironment, which builds the same map (the environment
// overlaid on an optional ./cfg file). Every function reads the same names
// (SPEC §2); a missing required setting stops start-up with an error naming
// it.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
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

// FuncFile is the settings file func-go reads from the working directory.
const FuncFile = "cfg"

// FromEnvironment returns what func-go (v0.22) passes a function's Start:
// the process environment laid over ./cfg, which may be absent. Commands
// read their settings with it, so that they find a setting where a function
// does.
func FromEnvironment() (Config, error) { return FromEnvironmentOver(FuncFile) }

// FromEnvironmentOver is FromEnvironment with the file at path, which may
// be absent, in place of ./cfg.
func FromEnvironmentOver(path string) (Config, error) {
	c, err := ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c = Config{}
	case err != nil:
		return nil, err
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		c[k] = v
	}
	return c, nil
}

// ReadFile reads KEY=VALUE lines, the format of .local/stack.env and
// func-go's cfg file. As func-go does, it trims spaces around key and value
// and quotes around the value. Where func-go refuses a line without "=", it
// skips it, so that blank lines and # comments may be used.
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
			c[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return c, sc.Err()
}
