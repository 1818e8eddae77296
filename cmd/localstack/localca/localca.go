// Package localca is the certificate authority of the local stack: it signs
// the local kube-apiserver's serving certificate and its users' client
// certificates (cmd/localstack), and the serving certificates tests give
// the webhooks that API server calls (test/testenv). Made with crypto/x509,
// so a machine needs no openssl.
package localca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the CA in its directory.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// validity is long: the CA and everything it signs live as long as .local/.
const validity = 10 * 365 * 24 * time.Hour

// CA signs certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// LoadOrCreate loads the CA from dir, making it first if it is not there.
func LoadOrCreate(dir string) (*CA, error) {
	ca, err := Load(dir)
	if !errors.Is(err, os.ErrNotExist) {
		return ca, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := template(pkix.Name{CommonName: "auditfn-local-ca"})
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return nil, err
	}
	// The key first: a certificate without its key would be loaded as a CA
	// that cannot sign.
	if err := os.WriteFile(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), certPEM(der), 0o644); err != nil {
		return nil, err
	}
	return Load(dir)
}

// Load reads the CA from dir.
func Load(dir string) (*CA, error) {
	certPEMBytes, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, err
	}
	keyPEMBytes, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEMBytes, keyPEMBytes)
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key in %s cannot sign", dir)
	}
	return &CA{Cert: cert, CertPEM: certPEMBytes, key: key}, nil
}

// Leaf says what a certificate is for: a server (hosts become its SANs) or
// a client (the API server reads CommonName as the user name and
// Organization as the groups).
type Leaf struct {
	Subject pkix.Name
	Hosts   []string // IP addresses or DNS names; a server certificate
	Client  bool
}

// Issue signs a new key pair for leaf; both are PEM.
func (ca *CA) Issue(leaf Leaf) (certPEMBytes, keyPEMBytes []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template(leaf.Subject)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	for _, h := range leaf.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(leaf.Hosts) > 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyPEMBytes, err = KeyPEM(key)
	return certPEM(der), keyPEMBytes, err
}

// ServerTLS is a TLS certificate for hosts, for a server the API server
// calls (it trusts CertPEM as the caBundle).
func (ca *CA) ServerTLS(hosts ...string) (tls.Certificate, error) {
	c, k, err := ca.Issue(Leaf{Subject: pkix.Name{CommonName: hosts[0]}, Hosts: hosts})
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(c, k)
}

// NewKey is an ECDSA P-256 key: quick to make, and accepted everywhere the
// API server takes a key (serving, client, service-account signing).
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// KeyPEM is key as a PKCS#8 PEM block.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicKeyPEM is key's public half as a PKIX PEM block.
func PublicKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func template(subject pkix.Name) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	// An hour back absorbs clock skew between the processes that check it.
	return &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity)}, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
