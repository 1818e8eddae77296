package kubeapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrUnauthenticated: the API server does not accept the bearer token, or
// there is none.
var ErrUnauthenticated = errors.New("missing or unknown bearer token")

// Tokens tells who holds a bearer token, by asking the API server (a
// TokenReview, which it serves itself), and whether they may go on, and
// remembers both answers a minute per token, so a caller's requests cost
// one review a minute.
type Tokens struct {
	api       *Client
	authorize func(context.Context, authnv1.UserInfo) error // nil: every identity may
	ttl       time.Duration

	mu    sync.Mutex
	known map[[sha256.Size]byte]review
}

type review struct {
	user    authnv1.UserInfo
	err     error
	expires time.Time
}

// maxTokens bounds what Tokens remembers: past it, it starts again.
const maxTokens = 10_000

// NewTokens reviews tokens through api; authorize (nil: none) decides, for
// a verified identity, whether it may go on: its error is remembered with
// the identity.
func NewTokens(api *Client, authorize func(context.Context, authnv1.UserInfo) error) *Tokens {
	return &Tokens{api: api, authorize: authorize, ttl: time.Minute, known: map[[sha256.Size]byte]review{}}
}

// Review is the verified identity holding token, or ErrUnauthenticated, or
// authorize's error. Other errors are the API server's: the caller cannot
// be told apart from an impostor until it answers, and nothing is
// remembered.
func (t *Tokens) Review(ctx context.Context, token string) (authnv1.UserInfo, error) {
	if token == "" {
		return authnv1.UserInfo{}, ErrUnauthenticated
	}
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	t.mu.Lock()
	r, ok := t.known[key]
	t.mu.Unlock()
	if ok && now.Before(r.expires) {
		return r.user, r.err
	}
	var tr authnv1.TokenReview
	err := t.api.Do(ctx, http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", authnv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authnv1.TokenReviewSpec{Token: token},
	}, &tr)
	if err != nil {
		return authnv1.UserInfo{}, err
	}
	r = review{user: tr.Status.User, expires: now.Add(t.ttl)}
	switch {
	case !tr.Status.Authenticated:
		r = review{err: ErrUnauthenticated, expires: r.expires}
	case t.authorize != nil:
		r.err = t.authorize(ctx, r.user)
		var refused *Refused
		if r.err != nil && !errors.As(r.err, &refused) {
			return authnv1.UserInfo{}, r.err
		}
	}
	t.mu.Lock()
	if len(t.known) >= maxTokens {
		t.known = map[[sha256.Size]byte]review{}
	}
	t.known[key] = r
	t.mu.Unlock()
	return r.user, r.err
}

// Refused is authorize's answer for an identity that may not go on; any
// other error is a failure to decide, and is not remembered.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return r.Reason }

// Bearer is the request's bearer token, if any.
func Bearer(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(token)
}
