package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"function/shared/config"
	"function/shared/kubeapi"
)

// SettingAuth selects the authenticator: "kubernetes" in a cluster, else
// the token file.
const SettingAuth = "AUDITFN_QUERY_AUTH"

// The permission an auditor needs: "get" on auditevents.audit.kubernaut.ai
// (ClusterRole auditfn-auditor), a resource no API serves and no default
// role grants. A non-resource URL would not do: every authenticated user
// may get /api/* (ClusterRole system:discovery), /api/v1/audit/* included.
//
// Placing and releasing legal holds needs "create" and "delete" on the
// subresource auditevents/legalhold (ClusterRole auditfn-legal-hold): a
// subresource, so that neither verb reads as writing audit events.
const (
	AccessGroup     = "audit.kubernaut.ai"
	AccessResource  = "auditevents"
	HoldSubresource = "legalhold"
)

// kubeAuth checks bearer tokens with the Kubernetes API server: a
// TokenReview says who the caller is, a SubjectAccessReview whether they may
// read the audit trail; kubeapi.Tokens remembers both a minute per token.
type kubeAuth struct {
	api    *kubeapi.Client
	tokens *kubeapi.Tokens
}

// clusterAuth builds a kubeAuth for the API server the settings name: the
// pod's own, unless kubeapi's settings name another.
func clusterAuth(c config.Config) (*kubeAuth, error) {
	api, err := kubeapi.FromSettings(c)
	if err != nil {
		return nil, fmt.Errorf("%s=kubernetes: %w", SettingAuth, err)
	}
	return newKubeAuth(api), nil
}

func newKubeAuth(api *kubeapi.Client) *kubeAuth {
	return &kubeAuth{api: api, tokens: kubeapi.NewTokens(api, func(ctx context.Context, u authnv1.UserInfo) error {
		return allowed(ctx, api, u, authzv1.ResourceAttributes{Group: AccessGroup, Resource: AccessResource, Verb: "get"}, errForbidden)
	})}
}

// allowed asks the API server whether u may act as attrs says; refused
// is the error when not.
func allowed(ctx context.Context, api *kubeapi.Client, u authnv1.UserInfo, attrs authzv1.ResourceAttributes, refused error) error {
	var sar authzv1.SubjectAccessReview
	if err := api.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", authzv1.SubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"},
		Spec:     authzv1.SubjectAccessReviewSpec{User: u.Username, UID: u.UID, Groups: u.Groups, ResourceAttributes: &attrs},
	}, &sar); err != nil {
		return err
	}
	if !sar.Status.Allowed {
		return &kubeapi.Refused{Reason: refused.Error()}
	}
	return nil
}

// mayHold asks the API server at each call, not remembering the answer: a
// hold is rare, and a revoked binding then stops the next one.
func (k *kubeAuth) mayHold(ctx context.Context, token, verb string) error {
	u, err := k.tokens.Review(ctx, token)
	if err != nil {
		return err // authenticate passed a moment ago: the API server failing
	}
	err = allowed(ctx, k.api, u, authzv1.ResourceAttributes{Group: AccessGroup, Resource: AccessResource, Subresource: HoldSubresource, Verb: verb}, errHoldForbidden)
	var refused *kubeapi.Refused
	if errors.As(err, &refused) {
		return errHoldForbidden
	}
	return err
}

func (k *kubeAuth) authenticate(ctx context.Context, token string) (string, error) {
	u, err := k.tokens.Review(ctx, token)
	var refused *kubeapi.Refused
	switch {
	case errors.Is(err, kubeapi.ErrUnauthenticated):
		return "", errUnauthenticated
	case errors.As(err, &refused):
		return "", errForbidden
	}
	return u.Username, err
}
