package verify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"function/archive/bucket"
	"function/archive/format"
	"function/shared/auditevent"
	"function/shared/integrity"
	"function/shared/parallel"
)

// objects checks what the archive holds: manifests, parts and checkpoints.
type objects struct {
	src Source

	mu   sync.Mutex                   // guards the maps: one Verifier serves concurrent requests
	keys map[string]ed25519.PublicKey // published keys read so far, by object key
	// manifests and checkpoints hold those that checked out, by the versions
	// of the object and its signature: a stored version never changes, so a
	// live verify reads only what was written since the last one.
	manifests   map[versions]*Manifest
	checkpoints map[versions]*format.Checkpoint
}

// versions identify a signed object as stored: its key and the versions of
// it and of its signature. Without versions (a copy) nothing is remembered.
type versions struct{ key, version, sigVersion string }

func (v versions) known() bool { return v.version != "" && v.sigVersion != "" }

func newObjects(src Source) *objects {
	return &objects{src: src, keys: map[string]ed25519.PublicKey{},
		manifests: map[versions]*Manifest{}, checkpoints: map[versions]*format.Checkpoint{}}
}

// listing is the archive's signed objects and keys, as one listing found
// them.
type listing struct {
	manifests, checkpoints []versions // in key order
	keys                   []versions // the published public keys
}

// list lists the manifests (with the keys) and checkpoints, each with the
// version of its signature: one request per folder, so the tree's many
// objects under _tlog are not listed.
func (o *objects) list(ctx context.Context) (listing, error) {
	var objs []bucket.Object
	for _, prefix := range []string{format.ManifestPrefix, format.CheckpointPrefix} {
		got, err := o.src.List(ctx, prefix)
		if err != nil {
			return listing{}, err
		}
		objs = append(objs, got...)
	}
	sigs := map[string]string{}
	for _, obj := range objs {
		if key, ok := strings.CutSuffix(obj.Key, ".sig"); ok {
			sigs[key] = obj.VersionID
		}
	}
	var l listing
	for _, obj := range objs {
		v := versions{obj.Key, obj.VersionID, sigs[obj.Key]}
		switch {
		case strings.HasPrefix(obj.Key, format.ManifestPrefix+"keys/") && strings.HasSuffix(obj.Key, ".pem"):
			l.keys = append(l.keys, v)
		case !strings.HasSuffix(obj.Key, ".json"):
		case strings.HasPrefix(obj.Key, format.ManifestPrefix):
			l.manifests = append(l.manifests, v)
		case strings.HasPrefix(obj.Key, format.CheckpointPrefix):
			l.checkpoints = append(l.checkpoints, v)
		}
	}
	return l, nil
}

// read reads a small object; one that cannot be read is a finding.
func (o *objects) read(ctx context.Context, key, version string, fs *findings) ([]byte, bool, error) {
	body, err := o.src.ReadAll(ctx, key, version)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		fs.object(ObjectMissing, key, "%s cannot be read: %v", key, err)
		return nil, false, nil
	}
	return body, true, nil
}

// signature checks the detached signature of body, stored at key, with the
// key whose id is keyID, published at keyRef: the key there must be that
// key (its id is the SHA-256 of its DER form) and at the place its id gives.
func (o *objects) signature(ctx context.Context, key string, body []byte, keyID, keyRef string, kind Kind, fs *findings) (bool, error) {
	if keyRef != format.PublicKeyKey(keyID) {
		fs.object(kind, key, "%s names signing key %s at %s, not where that key is published (%s)", key, keyID, keyRef, format.PublicKeyKey(keyID))
		return false, nil
	}
	sig, err := o.src.ReadAll(ctx, format.SignatureKey(key), "")
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		fs.object(kind, key, "%s has no signature: %v", key, err)
		return false, nil
	}
	pub, problem, err := o.publicKey(ctx, keyRef, keyID)
	switch {
	case err != nil && ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		fs.object(kind, key, "%s: signing key %s is not published", key, keyRef)
		return false, nil
	case problem != "":
		fs.object(ObjectAltered, keyRef, "%s", problem)
		return false, nil
	}
	if !ed25519.Verify(pub, body, sig) {
		fs.object(kind, key, "%s: signature does not verify with %s", key, keyRef)
		return false, nil
	}
	return true, nil
}

// publicKey is the key published at keyRef, read once per verifier: it
// must parse and have the id keyID its place names (problem says how it
// does not). err is a failure to read it.
func (o *objects) publicKey(ctx context.Context, keyRef, keyID string) (pub ed25519.PublicKey, problem string, err error) {
	o.mu.Lock()
	pub, found := o.keys[keyRef]
	o.mu.Unlock()
	if found {
		return pub, "", nil
	}
	pemKey, err := o.src.ReadAll(ctx, keyRef, "")
	if err != nil {
		return nil, "", err
	}
	if pub, err = format.ParsePublicKey(pemKey); err != nil {
		return nil, fmt.Sprintf("published key %s: %v", keyRef, err), nil
	}
	if _, id, err := format.PublicKeyPEM(pub); err != nil || id != keyID {
		return nil, fmt.Sprintf("published key %s has id %s, not the %s its place names", keyRef, id, keyID), nil
	}
	o.mu.Lock()
	o.keys[keyRef] = pub
	o.mu.Unlock()
	return pub, "", nil
}

// Manifest is a stored manifest whose format and signature checked out.
type Manifest struct {
	format.Manifest
	Key    string
	SHA256 [sha256.Size]byte
}

// manifest reads and checks one manifest; nil when it fails.
func (o *objects) manifest(ctx context.Context, key, version string, fs *findings) (*Manifest, error) {
	body, ok, err := o.read(ctx, key, version, fs)
	if !ok {
		return nil, err
	}
	m := &Manifest{Key: key, SHA256: sha256.Sum256(body)}
	if json.Unmarshal(body, &m.Manifest) != nil || m.Format != format.ManifestFormat {
		fs.object(ManifestInvalid, key, "%s is not a manifest of format %s", key, format.ManifestFormat)
		return nil, nil
	}
	if ok, err := o.signature(ctx, key, body, m.SigningKey.KeyID, m.SigningKey.Key, ManifestSignature, fs); !ok {
		return nil, err
	}
	checkTotals(m, fs)
	return m, nil
}

// checkManifests checks every listed manifest and their chain: positions 1..n, each
// naming its predecessor's key and SHA-256. It returns those that checked
// out, in chain order.
func (o *objects) checkManifests(ctx context.Context, listed []versions, fs *findings) ([]*Manifest, error) {
	var chain []*Manifest
	for _, id := range listed {
		o.mu.Lock()
		m, known := o.manifests[id]
		o.mu.Unlock()
		if !known {
			before := len(*fs)
			var err error
			if m, err = o.manifest(ctx, id.key, id.version, fs); err != nil {
				return nil, err
			}
			if m != nil && len(*fs) == before && id.known() {
				o.mu.Lock()
				o.manifests[id] = m
				o.mu.Unlock()
			}
		}
		if m != nil {
			chain = append(chain, m)
		}
	}
	slices.SortFunc(chain, func(a, b *Manifest) int { return cmp.Compare(a.ChainSeq, b.ChainSeq) })
	for i, m := range chain {
		if m.ChainSeq != int64(i+1) {
			fs.object(ManifestChain, m.Key, "%s: chain position %d, expected %d (a manifest is missing)", m.Key, m.ChainSeq, i+1)
		}
		switch {
		case m.ChainSeq == 1 && m.Previous != nil:
			fs.object(ManifestChain, m.Key, "%s: the first manifest names a predecessor", m.Key)
		case i > 0 && (m.Previous == nil || m.Previous.ChainSeq != m.ChainSeq-1 || m.Previous.Key != chain[i-1].Key ||
			m.Previous.SHA256 != hex.EncodeToString(chain[i-1].SHA256[:])):
			fs.object(ManifestChain, m.Key, "%s: does not link to the manifest before it (%s)", m.Key, chain[i-1].Key)
		}
	}
	return chain, nil
}

// Ledger is a stream of (ledger_seq, ledger_pos, event_hash) of the rows a
// part should hold, in the part's row order: the hot rows it was cut from.
type Ledger func(ctx context.Context, fn func(seq int64, pos int32, hash []byte) error) error

// maxEventFindings bounds the per-event findings of one part: a part
// rewritten wholesale is reported, not listed row by row.
const maxEventFindings = 100

// part checks one part against its manifest entry: the object's size and
// SHA-256; every row's content against its event hash, its day and its
// ledger range; the row count, the time range and the events digest. With
// hot, every row must also sit at the ledger position hot gives it, in
// order, and the digest is implied by that. It returns how many events it
// read.
//
// Without a hot ledger, the rows' places are appended to keep (when not
// nil), for the tree's offline check.
func (o *objects) part(ctx context.Context, day string, p format.ManifestPart, hot Ledger, keep *[]placed, fs *findings) (int, error) {
	f, got, err := o.src.Open(ctx, p.Key, p.VersionID)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		fs.object(ObjectMissing, p.Key, "%s cannot be read: %v", p.Key, err)
		return 0, nil
	}
	defer f.Close()
	if got.Size != p.Size || hex.EncodeToString(got.SHA256) != p.SHA256 {
		fs.object(ObjectAltered, p.Key, "%s: size or SHA-256 differs from the manifest (%d bytes, %x; listed %d, %s)", p.Key, got.Size, got.SHA256, p.Size, p.SHA256)
		return 0, nil
	}
	c := &partCheck{key: p.Key, entry: p, fs: fs}
	if c.day, err = time.Parse(time.DateOnly, day); err != nil {
		fs.object(ManifestInvalid, p.Key, "%s: its manifest's eventDate %q is not a date", p.Key, day)
		return 0, nil
	}
	if err := c.rows(ctx, f, hot); err != nil {
		if ctx.Err() != nil {
			return int(c.stats.Rows), ctx.Err()
		}
		fs.object(PartContent, p.Key, "%s: %v", p.Key, err)
		return int(c.stats.Rows), nil
	}
	c.totals(hot == nil)
	if keep != nil {
		*keep = append(*keep, c.placed...)
	}
	return int(c.stats.Rows), nil
}

// partCheck is the state of one part's check.
type partCheck struct {
	key    string
	entry  format.ManifestPart
	day    time.Time
	fs     *findings
	stats  format.ContentStats
	placed []placed // without a hot ledger: every row's place, for the digest
	noted  int      // per-event findings so far
}

// placed is where a row sits in the chain, and its hash (and, from a
// part, its id).
type placed struct {
	seq  int64
	pos  int32
	hash []byte
	id   uuid.UUID
}

func byPlace(a, b placed) int { return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.pos, b.pos)) }

func (c *partCheck) event(kind Kind, r *auditevent.Record, format string, args ...any) {
	if c.noted++; c.noted <= maxEventFindings {
		*c.fs = append(*c.fs, Finding{Kind: kind, LedgerSeq: r.LedgerSeq, EventID: r.ID.String(), Object: c.key,
			Problem: fmt.Sprintf(format, args...)})
	}
}

// row checks what one row says of itself.
func (c *partCheck) row(r *auditevent.Record, hashOK bool) {
	if !hashOK {
		c.event(EventAltered, r, "event %s does not match its event_hash", r.ID)
	}
	if !r.EventDate.Equal(c.day) {
		c.event(EventWrongDay, r, "event %s of %s is in a part of %s", r.ID, r.EventDate.Format(time.DateOnly), c.day.Format(time.DateOnly))
	}
	if r.LedgerSeq <= c.entry.LedgerSeqAfter || r.LedgerSeq > c.entry.LedgerSeqThrough {
		c.event(EventOutside, r, "event %s is outside the part's ledger range", r.ID)
	}
	c.stats.Add(r.Time)
}

// totals compares the part's totals with its manifest entry.
func (c *partCheck) totals(digest bool) {
	if c.noted > maxEventFindings {
		c.fs.object(PartContent, c.key, "%s: %d more events are wrong", c.key, c.noted-maxEventFindings)
	}
	e := c.entry
	if c.stats.Rows != e.RowCount {
		c.fs.object(PartContent, c.key, "%s: %d rows, manifest says %d", c.key, c.stats.Rows, e.RowCount)
	} else if c.stats.Rows > 0 && (format.FormatTime(c.stats.MinEventTime) != e.MinEventTime || format.FormatTime(c.stats.MaxEventTime) != e.MaxEventTime) {
		c.fs.object(PartContent, c.key, "%s: events from %s to %s, manifest says %s to %s", c.key,
			format.FormatTime(c.stats.MinEventTime), format.FormatTime(c.stats.MaxEventTime), e.MinEventTime, e.MaxEventTime)
	}
	if !digest {
		return
	}
	slices.SortFunc(c.placed, byPlace)
	hashes := make([][]byte, len(c.placed))
	for i := range c.placed {
		hashes[i] = c.placed[i].hash
	}
	if hex.EncodeToString(integrity.EventsDigest(hashes)) != e.EventsDigest {
		c.fs.object(PartContent, c.key, "%s: events digest differs from the manifest", c.key)
	}
}

// chunkRows is how many rows travel through the check together.
const chunkRows = 1024

type rowChunk struct {
	first int64 // row number of recs[0]
	recs  []auditevent.Record
	ok    []bool // recs[i] matches its event hash
}

// rows streams the part's rows: decoding on one goroutine, hashing on every
// CPU, the rest in file order, beside the hot ledger if there is one. An
// error is a part that cannot be read as one, or that differs from hot.
func (c *partCheck) rows(ctx context.Context, f File, hot Ledger) error {
	g, gctx := errgroup.WithContext(ctx)
	var hotRows chan []placed
	if hot != nil {
		hotRows = make(chan []placed, 4)
		g.Go(func() error {
			defer close(hotRows)
			return sendLedger(gctx, hot, hotRows)
		})
	}
	var pending []placed
	next := func() (placed, bool) {
		if len(pending) == 0 {
			var ok bool
			if pending, ok = <-hotRows; !ok {
				return placed{}, false
			}
		}
		e := pending[0]
		pending = pending[1:]
		return e, true
	}
	emitRows := func(ctx context.Context, emit func(rowChunk) error) error {
		ch := rowChunk{recs: make([]auditevent.Record, 0, chunkRows)}
		send := func() error {
			ch.ok = make([]bool, len(ch.recs))
			err := emit(ch)
			ch = rowChunk{first: ch.first + int64(len(ch.recs)), recs: make([]auditevent.Record, 0, chunkRows)}
			return err
		}
		err := format.ReadParquet(ctx, f, func(r *auditevent.Record) error {
			if ch.recs = append(ch.recs, *r); len(ch.recs) == chunkRows {
				return send()
			}
			return nil
		})
		if err == nil && len(ch.recs) > 0 {
			err = send()
		}
		return err
	}
	hashRows := func(ch rowChunk) error {
		for i := range ch.recs {
			ch.ok[i] = bytes.Equal(integrity.EventHash(&ch.recs[i]), ch.recs[i].Hash)
		}
		return nil
	}
	takeRows := func(ch rowChunk) error {
		for i := range ch.recs {
			r := &ch.recs[i]
			c.row(r, ch.ok[i])
			if hot == nil {
				c.placed = append(c.placed, placed{r.LedgerSeq, r.LedgerPos, r.Hash, r.ID})
				continue
			}
			e, ok := next()
			if !ok {
				return fmt.Errorf("holds more than the %d rows PostgreSQL has", c.stats.Rows-1)
			}
			if r.LedgerSeq != e.seq || r.LedgerPos != e.pos || !bytes.Equal(r.Hash, e.hash) {
				return fmt.Errorf("row %d: archive has ledger (%d, %d) hash %x, PostgreSQL (%d, %d) hash %x",
					ch.first+int64(i), r.LedgerSeq, r.LedgerPos, r.Hash, e.seq, e.pos, e.hash)
			}
		}
		return nil
	}
	g.Go(func() error {
		if err := parallel.Ordered(gctx, emitRows, hashRows, takeRows); err != nil {
			return err
		}
		if hot != nil {
			if _, more := next(); more {
				return fmt.Errorf("PostgreSQL has more than the %d rows archived", c.stats.Rows)
			}
		}
		return nil
	})
	return g.Wait()
}

// sendLedger sends hot's entries to out in chunks.
func sendLedger(ctx context.Context, hot Ledger, out chan<- []placed) error {
	chunk := make([]placed, 0, chunkRows)
	send := func() error {
		select {
		case out <- chunk:
			chunk = make([]placed, 0, chunkRows)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := hot(ctx, func(seq int64, pos int32, hash []byte) error {
		if chunk = append(chunk, placed{seq: seq, pos: pos, hash: hash}); len(chunk) == cap(chunk) {
			return send()
		}
		return nil
	})
	if err == nil && len(chunk) > 0 {
		err = send()
	}
	return err
}

// checkCheckpoints checks the signature of every listed checkpoint (all)
// or of the newest only, and returns the newest that verified, and how many
// it checked.
func (o *objects) checkCheckpoints(ctx context.Context, listed []versions, all bool, fs *findings) (*format.Checkpoint, int, error) {
	if !all && len(listed) > 1 {
		listed = listed[len(listed)-1:] // keys sort by ledger batch
	}
	var newest *format.Checkpoint
	for _, id := range listed {
		o.mu.Lock()
		cp, known := o.checkpoints[id]
		o.mu.Unlock()
		if !known {
			var err error
			if cp, err = o.checkpoint(ctx, id, fs); err != nil {
				return nil, 0, err
			}
		}
		if cp != nil {
			newest = cp
		}
	}
	return newest, len(listed), nil
}

// checkpoint reads and checks one checkpoint; nil when it fails.
func (o *objects) checkpoint(ctx context.Context, id versions, fs *findings) (*format.Checkpoint, error) {
	body, ok, err := o.read(ctx, id.key, id.version, fs)
	if !ok {
		return nil, err
	}
	var cp format.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		fs.object(CheckpointInvalid, id.key, "checkpoint %s is not a checkpoint: %v", id.key, err)
		return nil, nil
	}
	if ok, err := o.signature(ctx, id.key, body, cp.KeyID, format.PublicKeyKey(cp.KeyID), CheckpointSignature, fs); !ok {
		return nil, err
	}
	if id.known() {
		o.mu.Lock()
		o.checkpoints[id] = &cp
		o.mu.Unlock()
	}
	return &cp, nil
}

// checkTotals checks a manifest's own figures against its parts: the day,
// parts 1..version in order, the row count and the time range.
func checkTotals(m *Manifest, fs *findings) {
	bad := func(format string, args ...any) {
		fs.object(ManifestInvalid, m.Key, "%s: "+format, append([]any{m.Key}, args...)...)
	}
	if _, err := time.Parse(time.DateOnly, m.EventDate); err != nil {
		bad("eventDate %q is not a date", m.EventDate)
	}
	if m.Version != len(m.Parts) {
		bad("version %d with %d parts", m.Version, len(m.Parts))
	}
	var rows int64
	minT, maxT := "", ""
	for i, p := range m.Parts {
		if p.Part != i+1 {
			bad("entry %d is part %d", i+1, p.Part)
		}
		rows += p.RowCount
		if minT == "" || p.MinEventTime < minT {
			minT = p.MinEventTime
		}
		if p.MaxEventTime > maxT {
			maxT = p.MaxEventTime
		}
	}
	if rows != m.RowCount || (len(m.Parts) > 0 && (minT != m.MinEventTime || maxT != m.MaxEventTime)) {
		bad("totals (%d rows, %s to %s) are not its parts' (%d rows, %s to %s)", m.RowCount, m.MinEventTime, m.MaxEventTime, rows, minT, maxT)
	}
}

// unlisted reports every Parquet object under the table that no manifest
// lists: a query over the table's files would read it unverified.
func (o *objects) unlisted(ctx context.Context, manifests []*Manifest, fs *findings) error {
	listed := map[string]bool{}
	for _, m := range manifests {
		for _, p := range m.Parts {
			listed[p.Key] = true
		}
	}
	objs, err := o.src.List(ctx, format.TablePrefix)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if strings.HasSuffix(obj.Key, ".parquet") && !strings.HasPrefix(obj.Key, format.TablePrefix+"_") && !listed[obj.Key] {
			fs.object(PartUnlisted, obj.Key, "%s is a part no signed manifest lists", obj.Key)
		}
	}
	return nil
}
