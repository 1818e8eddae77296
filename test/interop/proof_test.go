package interop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/test/fixtures"
	"function/test/procs"
)

const proofToken = "interop-proof-token-0123456789"

// An auditor checks an event's /api/v1/audit/proof with the public key
// alone, using only the standard libraries (checkWithStandardLibraries,
// proofcheck_test.go, imports nothing of auditfn); the checkpoint in the
// proof is the one published in the Object Lock bucket, and the bucket's
// full tile holds the events' leaves.
func TestAProofChecksWithTheStandardLibrariesAlone(t *testing.T) {
	e := archivetest.New(t)
	origin := "auditfn.example/interop/" + e.Bucket.Name
	settings := e.Settings()
	settings["AUDITFN_LOG_ORIGIN"] = origin
	settings["AUDITFN_FUNCTION"] = "collector"
	bin := procs.Binary(t, "./cmd/auditfn")
	col := procs.Start(t, bin, procs.FreeAddr(t), settings)
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte(proofToken+" interop\n"), 0o600))
	query := procs.Start(t, bin, procs.FreeAddr(t), map[string]string{"AUDITFN_FUNCTION": "query",
		"AUDITFN_PG_DSN": e.DB.AppDSN, "AUDITFN_QUERY_TOKENS_FILE": tokens})

	// 300 events: more than one full tile of 256 leaves.
	var events []auditevent.Event
	for i := range 60 {
		events = append(events, fixtures.Flow(fmt.Sprintf("rr-proof-%d", i), time.Now())...)
	}
	for _, ev := range events {
		b, err := auditevent.ToCloudEvent(ev).MarshalJSON()
		require.NoError(t, err)
		resp, err := http.Post(col.URL(), "application/cloudevents+json", bytes.NewReader(b))
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300)
	}
	stored := time.Now()
	last := events[len(events)-1].ID.String()
	var text []byte
	require.Eventually(t, func() bool {
		status, body := get(t, query.URL()+"/api/v1/audit/proof?event_id="+last)
		text = body
		return status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the newest event gets a proof")
	t.Logf("last event stored → its proof served: %s", time.Since(stored).Round(time.Millisecond))
	t.Logf("proof of one event among %d: %d bytes", len(events), len(text))

	// What the auditor holds: the public key, pinned beforehand, and the
	// log's name; from the API, the events (with their event hashes).
	pub := publicKey(t, e.KeyPath)
	status, body := get(t, query.URL()+"/api/v1/audit/events?limit=1000&correlation_id=rr-proof-59")
	require.Equal(t, http.StatusOK, status, string(body))
	var page eventsPage
	require.NoError(t, json.Unmarshal(body, &page))
	i := slices.IndexFunc(page.Events, func(ev apiEvent) bool { return ev.ID == last })
	require.GreaterOrEqual(t, i, 0)
	eventHash, err := hex.DecodeString(page.Events[i].Integrity.EventHash)
	require.NoError(t, err)

	size, checkpoint, err := checkWithStandardLibraries(text, eventHash, origin, pub)
	require.NoError(t, err)
	require.EqualValues(t, len(events), size, "the newest checkpoint covers every event")

	// Tampered inputs fail the same check.
	other := bytes.Clone(eventHash)
	other[0] ^= 1
	_, _, err = checkWithStandardLibraries(text, other, origin, pub)
	require.Error(t, err, "another event's hash is not proven by this proof")
	_, _, err = checkWithStandardLibraries(text, eventHash, "auditfn.example/another-log", pub)
	require.Error(t, err, "the checkpoint names its log")
	forged := bytes.Replace(text, []byte("index "), []byte("index 1"), 1)
	_, _, err = checkWithStandardLibraries(forged, eventHash, origin, pub)
	require.Error(t, err, "another index")

	// The same checkpoint is the one kept, locked, in the bucket. The
	// proof is served once the checkpoint is stored; the publisher puts it
	// in the bucket right after, in the same step: wait for that.
	c := e.Bucket.Client(t)
	ctx := context.Background()
	for _, key := range []string{fmt.Sprintf("audit_events/_tlog/checkpoints/%020d", size), "audit_events/_tlog/checkpoint"} {
		require.Eventually(t, func() bool {
			o, err := c.GetObject(ctx, e.Bucket.Name, key, minio.GetObjectOptions{})
			if err != nil {
				return false
			}
			defer o.Close()
			b, err := io.ReadAll(o)
			return err == nil && string(b) == string(checkpoint)
		}, 30*time.Second, 10*time.Millisecond, "%s holds the proof's checkpoint", key)
	}
	mode, until, err := c.GetObjectRetention(ctx, e.Bucket.Name, fmt.Sprintf("audit_events/_tlog/checkpoints/%020d", size), "")
	require.NoError(t, err)
	require.Equal(t, minio.Compliance, *mode)
	require.True(t, until.After(time.Now().AddDate(0, 0, 89)), "locked for the retention period")

	// The remediation's export bundle checks with the standard libraries
	// alone, and with `auditfn verify-bundle` and the public key.
	status, bundleBody := get(t, query.URL()+"/api/v1/audit/export?correlation_id=rr-proof-59")
	require.Equal(t, http.StatusOK, status, string(bundleBody))
	n, err := checkBundleWithStandardLibraries(bundleBody, origin, pub)
	require.NoError(t, err)
	require.Equal(t, 5, n, "the remediation's five events")
	require.Contains(t, string(bundleBody), `"trail":{"correlationId":"rr-proof-59","entry":{"count":5,`, "and the checkpoint commits to five")
	lines := bytes.Split(bundleBody, []byte("\n"))
	dropped := bytes.Join(append(append([][]byte{}, lines[:2]...), lines[3:]...), []byte("\n"))
	dropped = bytes.Replace(dropped, []byte(`{"end":true,"events":5`), []byte(`{"end":true,"events":4`), 1)
	_, err = checkBundleWithStandardLibraries(dropped, origin, pub)
	require.ErrorContains(t, err, "the bundle holds 4 events of rr-proof-59; the checkpoint commits to 5", "an event left out")
	pemFile := filepath.Join(t.TempDir(), "public.pem")
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
	bundleFile := filepath.Join(t.TempDir(), "rr-proof-59.jsonl")
	require.NoError(t, os.WriteFile(bundleFile, bundleBody, 0o644))
	out, err := exec.Command(bin, "verify-bundle", "-key", pemFile, "-origin", origin, bundleFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"ok": true`)
	tampered := bytes.Replace(bundleBody, []byte(`"outcome":"success"`), []byte(`"outcome":"failure"`), 1)
	require.NoError(t, os.WriteFile(bundleFile, tampered, 0o644))
	out, err = exec.Command(bin, "verify-bundle", "-key", pemFile, "-origin", origin, bundleFile).CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), `"bundle_event"`)
	_, err = checkBundleWithStandardLibraries(tampered, origin, pub)
	require.Error(t, err)

	// Redacted, the bundle still checks, by hand and with the tool: the
	// actor and the signal context are shown by their commitments alone,
	// and neither they nor the event salts are in it.
	var shown struct {
		Event struct {
			ActorID string `json:"actorId"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(lines[1], &shown))
	require.NotEmpty(t, shown.Event.ActorID)
	status, redacted := get(t, query.URL()+"/api/v1/audit/export?correlation_id=rr-proof-59&redact=/actorId,/data/signalContext")
	require.Equal(t, http.StatusOK, status, string(redacted))
	n, err = checkBundleWithStandardLibraries(redacted, origin, pub)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.NotContains(t, string(redacted), `"`+shown.Event.ActorID+`"`)
	require.NotContains(t, string(redacted), `"signalContext":{"cluster":"`, "its values, not its keys")
	require.NotContains(t, string(redacted), `"salt":`)
	require.Contains(t, string(redacted), `"actorId":null`)
	require.NoError(t, os.WriteFile(bundleFile, redacted, 0o644))
	out, err = exec.Command(bin, "verify-bundle", "-key", pemFile, "-origin", origin, bundleFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"ok": true`)
	require.Contains(t, string(out), `"valuesRedacted": `)
	guessed := bytes.Replace(redacted, []byte(`"actorId":null`), []byte(`"actorId":"`+shown.Event.ActorID+`"`), 1)
	_, err = checkBundleWithStandardLibraries(guessed, origin, pub)
	require.Error(t, err, "a redacted value put back without its field salt does not check")
	status, refusal := get(t, query.URL()+"/api/v1/audit/export?correlation_id=rr-proof-59&redact=/eventId")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(refusal), `"field":"redact"`)

	// The first full tile holds the first 256 leaves.
	tile := object(t, c, e.Bucket.Name, "audit_events/_tlog/tile/0/000")
	require.Len(t, tile, 256*32)
	first := leafHashes(t, query.URL(), 256)
	for i, h := range first {
		require.Equal(t, hex.EncodeToString(h), hex.EncodeToString(tile[32*i:32*i+32]), "leaf %d", i)
	}
}

// leafHashes are the first n leaves by the definition of docs/integrity.md
// §7: SHA-256(0x00 ‖ event_hash), in (ledgerSeq, ledgerPos) order.
func leafHashes(t *testing.T, base string, n int) [][]byte {
	status, body := get(t, base+"/api/v1/audit/events?limit=1000")
	require.Equal(t, http.StatusOK, status)
	var page eventsPage
	require.NoError(t, json.Unmarshal(body, &page))
	evs := page.Events
	slices.SortFunc(evs, func(a, b apiEvent) int {
		if a.Integrity.LedgerSeq != b.Integrity.LedgerSeq {
			return int(a.Integrity.LedgerSeq - b.Integrity.LedgerSeq)
		}
		return int(a.Integrity.LedgerPos - b.Integrity.LedgerPos)
	})
	out := make([][]byte, n)
	for i := range out {
		h, err := hex.DecodeString(evs[i].Integrity.EventHash)
		require.NoError(t, err)
		out[i] = leafHash(h)
	}
	return out
}

// apiEvent is what the test reads of an event from /api/v1/audit/events.
type apiEvent struct {
	ID        string `json:"id"`
	Integrity struct {
		LedgerSeq int64  `json:"ledgerSeq"`
		LedgerPos int32  `json:"ledgerPos"`
		EventHash string `json:"eventHash"`
	} `json:"integrity"`
}

type eventsPage struct {
	Events []apiEvent `json:"events"`
}

func get(t *testing.T, url string) (int, []byte) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+proofToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func object(t *testing.T, c *minio.Client, bucket, key string) []byte {
	o, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer o.Close()
	b, err := io.ReadAll(o)
	require.NoError(t, err, key)
	return b
}

func publicKey(t *testing.T, path string) ed25519.PublicKey {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(raw)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return k.(ed25519.PrivateKey).Public().(ed25519.PublicKey)
}
