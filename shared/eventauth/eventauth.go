// Package eventauth proves where an audit event comes from. Every emitting
// function signs its events with a key the collector also holds; the
// collector stores only events whose signature checks. A pod that can reach
// the Broker or the collector but has no key cannot forge an audit event.
//
// The signature is HMAC-SHA256 over Signed(ev), sent in the CloudEvent
// extension "auditsig" as "<key id>:<base64url, no padding>"; docs/integrity.md
// §6 defines it for auditors.
package eventauth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"function/shared/auditevent"
	"function/shared/canonjson"
	"function/shared/config"
	"function/shared/integrity"
)

// Setting names the file holding the keys, one per line: the first signs,
// every one verifies (a rotation adds the new key first and drops the old
// one once no sender uses it). Blank lines and lines starting with # are
// skipped.
const Setting = "AUDITFN_EVENT_KEYS_FILE"

// MinKeyBytes is the shortest key accepted: 256 bits.
const MinKeyBytes = 32

// Keys sign and verify events.
type Keys struct {
	keys []key // keys[0] signs
}

type key struct {
	id     string
	secret []byte
}

// FromConfig loads the keys named by Setting; nil when it is not set.
func FromConfig(c config.Config) (*Keys, error) {
	if c[Setting] == "" {
		return nil, nil
	}
	return Load(c[Setting])
}

// Load reads a key file.
func Load(path string) (*Keys, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Setting, err)
	}
	return Parse(raw)
}

// Parse reads keys in the key file format.
func Parse(raw []byte) (*Keys, error) {
	k := &Keys{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < MinKeyBytes {
			return nil, fmt.Errorf("%s: line %d: a key needs at least %d characters", Setting, n, MinKeyBytes)
		}
		sum := sha256.Sum256([]byte(line))
		k.keys = append(k.keys, key{id: hex.EncodeToString(sum[:8]), secret: []byte(line)})
	}
	if len(k.keys) == 0 {
		return nil, fmt.Errorf("%s: no key in the file", Setting)
	}
	return k, nil
}

// Sign sets ev.Signature with the first key.
func (k *Keys) Sign(ev *auditevent.Event) {
	ev.Signature = k.keys[0].signature(ev)
}

// Verify reports whether ev carries a valid signature by one of the keys.
func (k *Keys) Verify(ev *auditevent.Event) error {
	if ev.Signature == "" {
		return errors.New("is required: the event is not signed")
	}
	id, sig, ok := strings.Cut(ev.Signature, ":")
	if _, err := base64.RawURLEncoding.Strict().DecodeString(sig); !ok || err != nil {
		return errors.New(`must be "<key id>:<base64url HMAC>"`)
	}
	for _, key := range k.keys {
		if key.id == id {
			// The whole value is compared: one encoding per signature.
			if !hmac.Equal([]byte(key.signature(ev)), []byte(ev.Signature)) {
				return errors.New("does not match the event: altered or forged")
			}
			return nil
		}
	}
	return fmt.Errorf("key %q is unknown", id)
}

func (k key) signature(ev *auditevent.Event) string {
	return k.id + ":" + base64.RawURLEncoding.EncodeToString(mac(k.secret, ev))
}

func mac(secret []byte, ev *auditevent.Event) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(Signed(ev))
	return h.Sum(nil)
}

// Signed is what a signature covers: the RFC 8785 (JCS) encoding of every
// envelope attribute and the canonical payload.
func Signed(ev *auditevent.Event) []byte {
	return canonjson.Object([]canonjson.Member{ // JCS order (ASCII keys)
		{Key: "action", Value: ev.Action},
		{Key: "actorId", Value: ev.ActorID},
		{Key: "actorType", Value: ev.ActorType},
		{Key: "category", Value: ev.Category},
		{Key: "correlationId", Value: ev.CorrelationID},
		{Key: "data", Raw: ev.Data},
		{Key: "id", Value: ev.ID.String()},
		{Key: "outcome", Value: ev.Outcome},
		{Key: "source", Value: ev.Source},
		{Key: "subject", Value: ev.Subject},
		{Key: "time", Value: ev.Time.UTC().Format(integrity.TimeLayout)},
		{Key: "traceParent", Value: ev.TraceParent},
		{Key: "type", Value: ev.Type},
	})
}
