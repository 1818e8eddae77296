package query

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

var (
	errUnauthenticated = errors.New("missing or unknown bearer token")
	errForbidden       = errors.New("not allowed to read the audit trail")
	errHoldForbidden   = errors.New("not allowed to place or release legal holds")
)

// authenticator turns a bearer token into the auditor's name, or fails with
// errUnauthenticated or errForbidden; mayHold tells whether the token's
// holder may place (verb "create") or release ("delete") legal holds, or
// fails with errHoldForbidden.
type authenticator interface {
	authenticate(ctx context.Context, token string) (string, error)
	mayHold(ctx context.Context, token, verb string) error
}

// tokenFile authenticates against a file of "TOKEN NAME" lines (local use;
// in a cluster, the Kubernetes TokenReview authenticator).
type tokenFile struct {
	tokens []fileToken
}

type fileToken struct{ token, name string }

func loadTokenFile(path string) (*tokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("AUDITFN_QUERY_TOKENS_FILE: %w", err)
	}
	defer f.Close()
	tf := &tokenFile{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		token, name, ok := strings.Cut(line, " ")
		if !ok || len(token) < 16 {
			return nil, fmt.Errorf("AUDITFN_QUERY_TOKENS_FILE %s: each line is TOKEN NAME, tokens at least 16 characters", path)
		}
		tf.tokens = append(tf.tokens, fileToken{token, strings.TrimSpace(name)})
	}
	if len(tf.tokens) == 0 {
		return nil, fmt.Errorf("AUDITFN_QUERY_TOKENS_FILE %s holds no tokens", path)
	}
	return tf, sc.Err()
}

// mayHold: the token file has no roles; every auditor it lists may.
func (tf *tokenFile) mayHold(context.Context, string, string) error { return nil }

func (tf *tokenFile) authenticate(_ context.Context, token string) (string, error) {
	name := ""
	for _, t := range tf.tokens { // compare with every entry, in constant time
		if subtle.ConstantTimeCompare([]byte(t.token), []byte(token)) == 1 {
			name = t.name
		}
	}
	if name == "" {
		return "", errUnauthenticated
	}
	return name, nil
}
