package query

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"function/shared/kubeapi"
)

// SettingAuth selects the authenticator: "kubernetes" in a cluster, else
// the token file.
const SettingAuth = "AUDITFN_QUERY_AUTH"

// accessPath is the non-resource path an auditor must be allowed to "get"
// (ClusterRole rule nonResourceURLs: ["/api/v1/audit/*"]).
const accessPath = "/api/v1/audit/*"

// kubeAuth checks bearer tokens with the Kubernetes API server: a
// TokenReview says who the caller is, a SubjectAccessReview whether they may
// read the audit trail. Answers are cached for a minute per token.
type kubeAuth struct {
	api *kubeapi.Client

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	name    string
	err     error
	expires time.Time
}

// inClusterAuth builds a kubeAuth from the pod's service account.
func inClusterAuth() (*kubeAuth, error) {
	api, err := kubeapi.InCluster()
	if err != nil {
		return nil, fmt.Errorf("%s=kubernetes: %w", SettingAuth, err)
	}
	return newKubeAuth(api), nil
}

func newKubeAuth(api *kubeapi.Client) *kubeAuth {
	return &kubeAuth{api: api, cache: map[[32]byte]cached{}}
}

func (k *kubeAuth) authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", errUnauthenticated
	}
	key := sha256.Sum256([]byte(token))
	k.mu.Lock()
	c, ok := k.cache[key]
	k.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.name, c.err
	}
	name, err := k.review(ctx, token)
	if err == nil || err == errUnauthenticated || err == errForbidden {
		k.mu.Lock()
		if len(k.cache) > 10000 {
			k.cache = map[[32]byte]cached{}
		}
		k.cache[key] = cached{name: name, err: err, expires: time.Now().Add(time.Minute)}
		k.mu.Unlock()
	}
	return name, err
}

func (k *kubeAuth) review(ctx context.Context, token string) (string, error) {
	var tr authnv1.TokenReview
	if err := k.api.Do(ctx, http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", authnv1.TokenReview{
		TypeMeta: typeMeta("authentication.k8s.io/v1", "TokenReview"),
		Spec:     authnv1.TokenReviewSpec{Token: token},
	}, &tr); err != nil {
		return "", err
	}
	if !tr.Status.Authenticated {
		return "", errUnauthenticated
	}
	u := tr.Status.User
	var sar authzv1.SubjectAccessReview
	if err := k.api.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", authzv1.SubjectAccessReview{
		TypeMeta: typeMeta("authorization.k8s.io/v1", "SubjectAccessReview"),
		Spec: authzv1.SubjectAccessReviewSpec{User: u.Username, UID: u.UID, Groups: u.Groups,
			NonResourceAttributes: &authzv1.NonResourceAttributes{Path: accessPath, Verb: "get"}},
	}, &sar); err != nil {
		return "", err
	}
	if !sar.Status.Allowed {
		return "", errForbidden
	}
	return u.Username, nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}
