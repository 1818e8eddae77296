package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SettingAuth selects the authenticator: "kubernetes" in a cluster, else
// the token file.
const SettingAuth = "AUDITFN_QUERY_AUTH"

// accessPath is the non-resource path an auditor must be allowed to "get"
// (ClusterRole rule nonResourceURLs: ["/api/v1/audit/*"]).
const accessPath = "/api/v1/audit/*"

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// kubeAuth checks bearer tokens with the Kubernetes API server: a
// TokenReview says who the caller is, a SubjectAccessReview whether they may
// read the audit trail. Answers are cached for a minute per token.
type kubeAuth struct {
	api     string // https://host:port
	client  *http.Client
	saToken func() ([]byte, error)

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
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("%s=kubernetes needs to run in a cluster (KUBERNETES_SERVICE_HOST is not set)", SettingAuth)
	}
	ca, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("%s=kubernetes: %w", SettingAuth, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return newKubeAuth("https://"+host+":"+port, client, func() ([]byte, error) {
		return os.ReadFile(serviceAccountDir + "/token") // re-read: projected tokens rotate
	}), nil
}

func newKubeAuth(api string, client *http.Client, saToken func() ([]byte, error)) *kubeAuth {
	return &kubeAuth{api: api, client: client, saToken: saToken, cache: map[[32]byte]cached{}}
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
	if err := k.post(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", authnv1.TokenReview{
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
	if err := k.post(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", authzv1.SubjectAccessReview{
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

func (k *kubeAuth) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	sa, err := k.saToken()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(sa)))
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: API server answered %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}
