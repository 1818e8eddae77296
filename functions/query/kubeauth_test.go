package query

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"function/shared/kubeapi"
)

// apiServer answers TokenReviews and SubjectAccessReviews like the
// Kubernetes API server: "good" and "nosy" tokens are valid, only the
// auditors group may read.
func apiServer(t *testing.T, calls *atomic.Int64) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer sa-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			var tr authnv1.TokenReview
			require.NoError(t, json.NewDecoder(r.Body).Decode(&tr))
			switch tr.Spec.Token {
			case "good":
				tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "auditor@example.com", Groups: []string{"auditors"}}}
			case "officer":
				tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "officer@example.com", Groups: []string{"auditors", "legal"}}}
			case "nosy":
				tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "dev@example.com", Groups: []string{"devs"}}}
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(tr)
		case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
			var sar authzv1.SubjectAccessReview
			require.NoError(t, json.NewDecoder(r.Body).Decode(&sar))
			switch a := *sar.Spec.ResourceAttributes; a {
			case authzv1.ResourceAttributes{Group: AccessGroup, Resource: AccessResource, Verb: "get"}:
				sar.Status.Allowed = len(sar.Spec.Groups) > 0 && sar.Spec.Groups[0] == "auditors"
			case authzv1.ResourceAttributes{Group: AccessGroup, Resource: AccessResource, Subresource: HoldSubresource, Verb: "create"},
				authzv1.ResourceAttributes{Group: AccessGroup, Resource: AccessResource, Subresource: HoldSubresource, Verb: "delete"}:
				sar.Status.Allowed = slices.Contains(sar.Spec.Groups, "legal")
			default:
				t.Errorf("unexpected SubjectAccessReview %+v", a)
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(sar)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
}

func TestKubernetesAuthenticationAndAuthorization(t *testing.T) {
	var calls atomic.Int64
	srv := apiServer(t, &calls)
	defer srv.Close()
	k := newKubeAuth(kubeapi.New(srv.URL, srv.Client(), func() ([]byte, error) { return []byte("sa-token\n"), nil }))
	ctx := context.Background()

	name, err := k.authenticate(ctx, "good")
	require.NoError(t, err)
	assert.Equal(t, "auditor@example.com", name)
	_, err = k.authenticate(ctx, "nosy")
	assert.ErrorIs(t, err, errForbidden)
	_, err = k.authenticate(ctx, "forged")
	assert.ErrorIs(t, err, errUnauthenticated)
	_, err = k.authenticate(ctx, "")
	assert.ErrorIs(t, err, errUnauthenticated)

	before := calls.Load()
	_, err = k.authenticate(ctx, "good")
	require.NoError(t, err)
	assert.Equal(t, before, calls.Load(), "answers are cached")

	broken := newKubeAuth(kubeapi.New(srv.URL, srv.Client(), func() ([]byte, error) { return []byte("wrong"), nil }))
	_, err = broken.authenticate(ctx, "good")
	require.Error(t, err)
	assert.NotErrorIs(t, err, errUnauthenticated, "an API failure is not the caller's fault: 503, not 401")
}

// Placing and releasing legal holds need the legalhold subresource's verbs,
// asked at each call.
func TestLegalHoldNeedsItsOwnPermission(t *testing.T) {
	var calls atomic.Int64
	srv := apiServer(t, &calls)
	defer srv.Close()
	k := newKubeAuth(kubeapi.New(srv.URL, srv.Client(), func() ([]byte, error) { return []byte("sa-token"), nil }))
	ctx := context.Background()
	for _, verb := range []string{"create", "delete"} {
		assert.ErrorIs(t, k.mayHold(ctx, "good", verb), errHoldForbidden, "an auditor without the role")
		require.NoError(t, k.mayHold(ctx, "officer", verb))
	}
	before := calls.Load()
	require.NoError(t, k.mayHold(ctx, "officer", "create"))
	assert.Equal(t, before+1, calls.Load(), "the permission is asked again, not remembered")
}
