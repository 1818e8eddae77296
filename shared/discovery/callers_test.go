package discovery

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"

	"function/shared/auditevent"
	"function/shared/kubeapi"
)

// tokenReviews answers TokenReviews as an API server does, for two known
// tokens, and fails for "unanswerable".
func tokenReviews(t *testing.T) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr authnv1.TokenReview
		require.NoError(t, json.NewDecoder(r.Body).Decode(&tr))
		switch tr.Spec.Token {
		case "unanswerable":
			w.WriteHeader(http.StatusInternalServerError)
			return
		case "hapi":
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "system:serviceaccount:kubernaut-system:holmesgpt-api"}}
		case "alice":
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "alice@example.com"}}
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(tr)
	}))
}

// With callers authenticated, the audited actor is the identity the token
// names; no token, an unknown one, or an API server that cannot answer
// stops the request before anything is served or audited.
func TestCallersAreWhoTheirTokenSays(t *testing.T) {
	srv := tokenReviews(t)
	defer srv.Close()
	api := kubeapi.New(srv.URL, srv.Client(), func() ([]byte, error) { return []byte("sa"), nil })
	b := NewBase("test")
	st := &running{callers: kubeapi.NewTokens(api, nil)}
	b.Store(st)

	ask := func(token string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/workflows/actions", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r
	}
	got, err := b.caller(ask("hapi"), st)
	require.NoError(t, err)
	assert.Equal(t, auditevent.Actor{Type: "service", ID: "system:serviceaccount:kubernaut-system:holmesgpt-api"}, got)
	got, err = b.caller(ask("alice"), st)
	require.NoError(t, err)
	assert.Equal(t, auditevent.Actor{Type: "user", ID: "alice@example.com"}, got)

	for token, want := range map[string]int{"": 401, "forged": 401, "unanswerable": 503} {
		rec := httptest.NewRecorder()
		c, _ := b.Accept(rec, ask(token), true, "GET /api/v1/workflows/actions", http.MethodGet)
		assert.Nil(t, c, token)
		assert.Equal(t, want, rec.Code, token)
	}

	unauthenticated := &running{}
	got, err = b.caller(ask(""), unauthenticated)
	require.NoError(t, err)
	assert.Equal(t, Caller, got, "without authentication the caller is HAPI, as before")
}
