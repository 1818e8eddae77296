package localkube

import (
	"encoding/json"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Webhook is infra/webhook/mutatingwebhook.yaml (manifest) as it is (rules,
// matchConditions, failure policy, timeouts), except for how the API server
// reaches blockclear: at base plus the manifest's path, trusting caBundle,
// instead of the in-cluster Service and cert-manager's injection, and only
// for namespace (webhook configurations are cluster-wide). Its name ends in
// the namespace, so each namespace's is its own. It returns the name and
// the JSON manifest.
func Webhook(manifest []byte, base string, caBundle []byte, namespace string) (string, []byte, error) {
	cfg, path, err := parseWebhook(manifest)
	if err != nil {
		return "", nil, err
	}
	cfg.Name += "-" + namespace
	cfg.Annotations = nil
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != path {
			return "", nil, fmt.Errorf("webhook %s is not blockclear's one path %s", w.Name, path)
		}
		u := base + path
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caBundle}
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}
	}
	b, err := json.Marshal(cfg)
	return cfg.Name, b, err
}

// WebhookPath is the path at which the manifest's webhooks call blockclear.
func WebhookPath(manifest []byte) (string, error) {
	_, path, err := parseWebhook(manifest)
	return path, err
}

func parseWebhook(manifest []byte) (admissionregistrationv1.MutatingWebhookConfiguration, string, error) {
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(manifest, &cfg); err != nil {
		return cfg, "", err
	}
	if len(cfg.Webhooks) == 0 || cfg.Webhooks[0].ClientConfig.Service == nil || cfg.Webhooks[0].ClientConfig.Service.Path == nil {
		return cfg, "", fmt.Errorf("the webhook manifest names no Service path")
	}
	return cfg, *cfg.Webhooks[0].ClientConfig.Service.Path, nil
}
