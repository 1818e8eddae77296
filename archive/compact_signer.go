package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"function/archive/format"
)

// Signer signs manifests and checkpoints with an ed25519 key.
type Signer struct {
	priv ed25519.PrivateKey
	// KeyID is the hex SHA-256 of the public key's DER SubjectPublicKeyInfo.
	KeyID string
	// PublicPEM is the public key as published beside the manifests.
	PublicPEM []byte
}

// LoadSigner reads a PKCS#8 PEM ed25519 private key, as written by
// `openssl genpkey -algorithm ed25519` or GenerateSigningKey.
func LoadSigner(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", SettingSigningKey, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("setting %s: %s holds no PEM \"PRIVATE KEY\" block", SettingSigningKey, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %s: %w", SettingSigningKey, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("setting %s: %s is a %T, not an ed25519 key", SettingSigningKey, path, k)
	}
	pub, id, err := format.PublicKeyPEM(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signer{priv: priv, KeyID: id, PublicPEM: pub}, nil
}

// Sign is the ed25519 signature of msg.
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// Public is the verification key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// GenerateSigningKey writes a new ed25519 private key to path (PKCS#8 PEM,
// mode 0600), failing if the file exists.
func GenerateSigningKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
