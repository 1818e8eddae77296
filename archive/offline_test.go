package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
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

func TestOfflineVerificationOfADownloadedArchive(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	e.Seed(t, archivetest.DaysAgo(12), 300)
	e.Seed(t, archivetest.DaysAgo(11), 200)
	_, err := e.Compactor(t, archive.Options{}).Run(ctx)
	require.NoError(t, err)
	dir := download(t, e)

	rep, err := archive.VerifyOffline(ctx, os.DirFS(dir))
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Equal(t, archive.OfflineReport{Manifests: 2, Parts: 2, Events: 500, Checkpoints: 1, Problems: []string{}}, rep)

	tamper := func(name string, change func(dir string), want string) {
		t.Run(name, func(t *testing.T) {
			copyDir := download(t, e)
			change(copyDir)
			rep, err := archive.VerifyOffline(ctx, os.DirFS(copyDir))
			require.NoError(t, err)
			require.NotEmpty(t, rep.Problems)
			assert.Contains(t, rep.Problems[0], want)
		})
	}
	part := filepath.FromSlash(archive.PartKey(archivetest.DaysAgo(12), 1))
	tamper("changed part", func(d string) {
		p := filepath.Join(d, part)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}, "SHA-256 differs")
	tamper("deleted manifest", func(d string) {
		require.NoError(t, os.Remove(filepath.Join(d, filepath.FromSlash(archive.ManifestKey(archivetest.DaysAgo(12), 1)))))
	}, "chain position")
	tamper("other signing key", func(d string) {
		other := filepath.Join(t.TempDir(), "other.pem")
		require.NoError(t, archive.GenerateSigningKey(other))
		s, err := archive.LoadSigner(other)
		require.NoError(t, err)
		m := filepath.Join(d, filepath.FromSlash(archive.ManifestKey(archivetest.DaysAgo(11), 1)))
		body, _ := os.ReadFile(m)
		require.NoError(t, os.WriteFile(m+".sig", s.Sign(body), 0o644))
	}, "signature does not verify")
}
