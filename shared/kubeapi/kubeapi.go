// Package kubeapi calls the Kubernetes API server as the pod's service
// account: the few JSON requests the functions make (reviews for the query
// API, listing WorkflowExecutions for block clearance). It is a small HTTP
// client rather than client-go, whose package initialisation every function
// of the one image would pay at each scale-from-zero start.
package kubeapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"function/shared/config"
)

// ServiceAccountDir is where a pod's API token and CA are mounted.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNotInCluster is InCluster's answer outside a pod.
var ErrNotInCluster = errors.New("not running in a Kubernetes cluster (KUBERNETES_SERVICE_HOST is not set)")

// Client sends requests to one API server with a bearer token.
type Client struct {
	api   string // https://host:port
	http  *http.Client
	token func() ([]byte, error)
}

// New is a Client for the API server at api (scheme://host:port), sending
// the token token returns with every request.
func New(api string, hc *http.Client, token func() ([]byte, error)) *Client {
	return &Client{api: api, http: hc, token: token}
}

// InCluster is a Client for the pod's own API server, as its service
// account.
func InCluster() (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	return fromFiles("https://"+net.JoinHostPort(host, port), ServiceAccountDir+"/ca.crt", ServiceAccountDir+"/token")
}

// Settings that point the functions at an API server from outside a pod
// (a local control plane, tests): its URL, the CA file that signs its
// serving certificate and a file holding the bearer token to send. Unset,
// the pod's own service account is used.
const (
	SettingAPI       = "AUDITFN_KUBE_API"
	SettingCAFile    = "AUDITFN_KUBE_CA_FILE"
	SettingTokenFile = "AUDITFN_KUBE_TOKEN_FILE"
)

// FromSettings is a Client for the API server the settings name, or, when
// they name none, InCluster.
func FromSettings(c config.Config) (*Client, error) {
	api := c[SettingAPI]
	if api == "" {
		return InCluster()
	}
	caFile, err := c.Required(SettingCAFile)
	if err != nil {
		return nil, err
	}
	tokenFile, err := c.Required(SettingTokenFile)
	if err != nil {
		return nil, err
	}
	return fromFiles(api, caFile, tokenFile)
}

// fromFiles is a Client for api, trusting the CA in caFile and sending the
// token in tokenFile, read again for each request: tokens rotate.
func fromFiles(api, caFile, tokenFile string) (*Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return New(api, hc, func() ([]byte, error) { return os.ReadFile(tokenFile) }), nil
}

// InClusterNamespace is the namespace the pod runs in.
func InClusterNamespace() (string, error) {
	b, err := os.ReadFile(ServiceAccountDir + "/namespace")
	return string(bytes.TrimSpace(b)), err
}

// Do sends in (nil: no body) as JSON to path and decodes the answer into
// out. Any status but 200 and 201 is an error naming it.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	token, err := c.token()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: API server answered %s", method, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// KubernautCollection is the API path of a kubernaut.ai/v1alpha1 resource
// collection in namespace ns, or in every namespace for "*".
func KubernautCollection(ns, resource string) string {
	if ns == "*" {
		return "/apis/kubernaut.ai/v1alpha1/" + resource
	}
	return "/apis/kubernaut.ai/v1alpha1/namespaces/" + url.PathEscape(ns) + "/" + resource
}

// ListPage is how many items one list request asks for.
const ListPage = 500

// List calls each with every item of the collection at path, as the JSON
// object the API server returns, page by page.
func (c *Client) List(ctx context.Context, path string, each func(item json.RawMessage) error) error {
	for next := ""; ; {
		page := fmt.Sprintf("%s?limit=%d", path, ListPage)
		if next != "" {
			page += "&continue=" + url.QueryEscape(next)
		}
		var list struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if err := c.Do(ctx, http.MethodGet, page, nil, &list); err != nil {
			return err
		}
		for _, item := range list.Items {
			if err := each(item); err != nil {
				return err
			}
		}
		if next = list.Metadata.Continue; next == "" {
			return nil
		}
	}
}
