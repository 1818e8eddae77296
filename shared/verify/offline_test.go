package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/shared/verify"
)

// download copies every object of the Env's bucket into a directory, keys as
// paths, as `mc mirror` would.
func download(t *testing.T, e *archivetest.Env) string {
	dir := t.TempDir()
	for _, key := range e.Keys(t, "audit_events/") {
		p := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, e.Get(t, key), 0o644))
	}
	return dir
}

func offline(t *testing.T, dir string) verify.Report {
	t.Helper()
	rep, err := verify.Offline(verify.Dir(os.DirFS(dir), dir)).Verify(context.Background(), verify.Scope{})
	require.NoError(t, err)
	return rep
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func kinds(fs []verify.Finding) []verify.Kind {
	var out []verify.Kind
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

func TestOfflineVerificationOfADownloadedArchive(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(12), 300)
	e.Seed(t, archivetest.DaysAgo(11), 200)
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	dir := download(t, e)

	assert.Equal(t, verify.Report{Manifests: 2, Parts: 2, EventsChecked: 500, Checkpoints: 1, Findings: []verify.Finding{}}, offline(t, dir))

	tamper := func(name string, change func(dir string), want verify.Kind, culprit string) {
		t.Run(name, func(t *testing.T) {
			copyDir := download(t, e)
			change(copyDir)
			rep := offline(t, copyDir)
			require.False(t, rep.OK())
			assert.Contains(t, kinds(rep.Findings), want, "%+v", rep.Findings)
			for _, f := range rep.Findings {
				if f.Kind == want {
					assert.Equal(t, culprit, f.Object, "the culprit is named")
				}
			}
		})
	}
	day12, day11 := archivetest.DaysAgo(12), archivetest.DaysAgo(11)
	tamper("changed part", func(d string) {
		p := filepath.Join(d, filepath.FromSlash(format.PartKey(day12, 1)))
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}, verify.ObjectAltered, format.PartKey(day12, 1))
	tamper("deleted part", func(d string) {
		require.NoError(t, os.Remove(filepath.Join(d, filepath.FromSlash(format.PartKey(day11, 1)))))
	}, verify.ObjectMissing, format.PartKey(day11, 1))
	tamper("deleted manifest", func(d string) {
		require.NoError(t, os.Remove(filepath.Join(d, filepath.FromSlash(format.ManifestKey(day12, 1)))))
	}, verify.ManifestChain, format.ManifestKey(day11, 1))
	tamper("other signing key", func(d string) {
		other := filepath.Join(t.TempDir(), "other.pem")
		require.NoError(t, archive.GenerateSigningKey(other))
		s, err := archive.LoadSigner(other)
		require.NoError(t, err)
		m := filepath.Join(d, filepath.FromSlash(format.ManifestKey(day11, 1)))
		body, _ := os.ReadFile(m)
		require.NoError(t, os.WriteFile(m+".sig", s.Sign(body), 0o644))
	}, verify.ManifestSignature, format.ManifestKey(day11, 1))
	tamper("unlisted part", func(d string) {
		b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(format.PartKey(day12, 1))))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(d, filepath.FromSlash(format.PartKey(day12, 9))), b, 0o644))
	}, verify.PartUnlisted, format.PartKey(day12, 9))
	tamper("substituted key", func(d string) {
		// Another key put where the signing key is published, every manifest
		// re-signed with it: the signatures verify, the key is not the one named.
		other := filepath.Join(t.TempDir(), "other.pem")
		require.NoError(t, archive.GenerateSigningKey(other))
		s, err := archive.LoadSigner(other)
		require.NoError(t, err)
		keys, err := filepath.Glob(filepath.Join(d, filepath.FromSlash(format.ManifestPrefix), "keys", "*.pem"))
		require.NoError(t, err)
		require.Len(t, keys, 1)
		require.NoError(t, os.WriteFile(keys[0], s.PublicPEM, 0o644))
		for _, day := range []time.Time{day12, day11} {
			m := filepath.Join(d, filepath.FromSlash(format.ManifestKey(day, 1)))
			body, _ := os.ReadFile(m)
			require.NoError(t, os.WriteFile(m+".sig", s.Sign(body), 0o644))
		}
	}, verify.ObjectAltered, strings.TrimPrefix(filepath.ToSlash(must(filepath.Glob(filepath.Join(dir, filepath.FromSlash(format.ManifestPrefix), "keys", "*.pem")))[0]), filepath.ToSlash(dir)+"/"))
	tamper("rewritten checkpoint", func(d string) {
		cps, err := filepath.Glob(filepath.Join(d, filepath.FromSlash(format.CheckpointPrefix), "*.json"))
		require.NoError(t, err)
		require.Len(t, cps, 1)
		b, _ := os.ReadFile(cps[0])
		require.NoError(t, os.WriteFile(cps[0], append(b, ' '), 0o644))
	}, verify.CheckpointSignature, format.CheckpointKey(e.DB.Scalar(t, "SELECT max(seq) FROM audit.ledger").(int64)))
}

// A verifier that finds nothing must not pass: a copy pointed at the wrong
// folder (inside audit_events/, or an empty one) is a finding naming it.
func TestOfflineVerificationOfAMisplacedArchiveFails(t *testing.T) {
	e := archivetest.New(t)
	e.Seed(t, archivetest.DaysAgo(12), 30)
	_, err := e.Compactor(t, archive.Options{}).Run(context.Background())
	require.NoError(t, err)
	dir := download(t, e)
	for _, wrong := range []string{filepath.Join(dir, "audit_events"), t.TempDir()} {
		rep := offline(t, wrong)
		require.False(t, rep.OK(), wrong)
		require.Len(t, rep.Findings, 1)
		assert.Equal(t, verify.ArchiveEmpty, rep.Findings[0].Kind)
		assert.Equal(t, wrong, rep.Findings[0].Object)
		assert.Contains(t, rep.Findings[0].Problem, wrong)
	}
}
