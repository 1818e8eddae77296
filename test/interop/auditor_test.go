package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	"function/shared/auditevent"
	"function/shared/integrity"
	"function/test/fixtures"
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

// docs/archive.md step 3's SQL, taken from the document itself, finds
// exactly the plainly hashed events that do not match their hash, in a
// part with salted events too and in one from before salting.
func TestTheDocumentedDuckDBHashCheckFindsAlteredEvents(t *testing.T) {
	doc, err := os.ReadFile("docs/archive.md") // TestMain runs from the repository root
	require.NoError(t, err)
	_, script, ok := strings.Cut(string(doc), "cat > event_hash.sql <<'EOF'\n")
	require.True(t, ok)
	script, _, ok = strings.Cut(script, "\nEOF\n")
	require.True(t, ok)

	var recs []auditevent.Record
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i, ev := range fixtures.Flow("rr-duck-\"quoted\"\n", at) {
		r := auditevent.NewRecord(ev)
		r.ReceivedAt, r.LedgerSeq, r.LedgerPos = at.Add(time.Hour), 1, int32(i)
		if i%2 == 1 {
			r.Salt = bytes.Repeat([]byte{byte(i)}, 32)
		}
		r.Hash = integrity.EventHash(&r)
		recs = append(recs, r)
	}
	recs[0].Outcome = "failure" // plainly hashed, altered after hashing
	recs[1].Outcome = "failure" // salted: beyond SQL, so not reported
	file := filepath.Join(t.TempDir(), "part.parquet")
	f, err := os.Create(file)
	require.NoError(t, err)
	w, err := format.NewWriter(f)
	require.NoError(t, err)
	for i := range recs {
		require.NoError(t, w.Add(&recs[i]))
	}
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())

	db := duck(t)
	db.SetMaxOpenConns(1) // the view and macros live in the connection
	src := fmt.Sprintf("read_parquet('%s', hive_partitioning = false)", file)
	for name, view := range map[string]string{
		"salted part": "SELECT * FROM " + src,
		"part from before salting, as the script reads it": "SELECT *, NULL::BLOB AS event_salt FROM (SELECT * EXCLUDE (event_salt) FROM " + src + ")",
	} {
		_, err := db.Exec("CREATE OR REPLACE VIEW part AS " + view)
		require.NoError(t, err)
		_, err = db.Exec(strings.ReplaceAll(script, "CREATE MACRO", "CREATE OR REPLACE MACRO"))
		require.NoError(t, err)
		var bad []string
		rows, err := db.Query("SELECT event_id FROM bad_events()")
		require.NoError(t, err)
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			bad = append(bad, id)
		}
		require.NoError(t, rows.Err())
		if name == "salted part" {
			assert.Equal(t, []string{recs[0].ID.String()}, bad, name)
		} else {
			assert.Len(t, bad, len(recs)/2+1, "%s: every salted event, read as plain, and the altered one", name)
		}
	}
}
