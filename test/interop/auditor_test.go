package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
)

// docs/archive.md §5: an auditor recomputes each part's row count and
// events digest from the downloaded Parquet with DuckDB alone, and compares
// them with the signed manifest.
func TestAnAuditorRecomputesTheManifestFiguresWithDuckDB(t *testing.T) {
	e := archivetest.New(t)
	d := archivetest.DaysAgo(13)
	e.Seed(t, d, 300)
	_, err := e.Compactor(t, archive.Options{}).Run(context.Background())
	require.NoError(t, err)
	e.Seed(t, d, 40) // late events: a second part
	_, err = e.Compactor(t, archive.Options{}).Run(context.Background())
	require.NoError(t, err)

	ms := e.Manifests(t) // chain, signatures, object sizes and SHA-256
	require.Len(t, ms, 2)
	latest := ms[1]
	require.Equal(t, d.Format(time.DateOnly), latest.EventDate)
	require.Len(t, latest.Parts, 2)

	dir := t.TempDir()
	download(t, e, dir)
	db := duck(t)
	for _, p := range latest.Parts {
		file := filepath.Join(dir, filepath.FromSlash(p.Key))
		var n int64
		var minT, maxT time.Time
		require.NoError(t, db.QueryRow(`SELECT count(*), min(event_time), max(event_time) FROM read_parquet(?)`, file).Scan(&n, &minT, &maxT))
		assert.Equal(t, p.RowCount, n)
		assert.Equal(t, p.MinEventTime, minT.UTC().Format("2006-01-02T15:04:05.000000Z"))
		assert.Equal(t, p.MaxEventTime, maxT.UTC().Format("2006-01-02T15:04:05.000000Z"))

		// The documented query: event hashes in ledger order, hex, one a line.
		rows, err := db.Query(`SELECT hex(event_hash) FROM read_parquet(?) ORDER BY ledger_seq, ledger_pos`, file)
		require.NoError(t, err)
		h := sha256.New()
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			raw, err := hex.DecodeString(line)
			require.NoError(t, err)
			h.Write(raw)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, p.EventsDigest, hex.EncodeToString(h.Sum(nil)), "%s events digest", p.Key)

		var outside int64
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM read_parquet(?) WHERE ledger_seq <= ? OR ledger_seq > ?`,
			file, p.LedgerSeqAfter, p.LedgerSeqThrough).Scan(&outside))
		assert.Zero(t, outside, "every row lies in the part's ledger range")
	}
}
