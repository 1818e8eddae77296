// Package verify is the one verifier of the audit log: the hot chain in
// PostgreSQL with the archived events it lists, the archive's parts,
// manifests (signatures and chain) and checkpoints, read through a Source:
// the bucket, or a downloaded copy of it. The compactor's read-back, the
// query API's /verify and `make verify`, live and offline, all run it.
// docs/integrity.md and docs/archive.md define what it checks.
package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/formats/witness"

	"function/archive/format"
)

// Verifier checks a log. Any of its parts may be absent: no pool is an
// archive checked offline, no source a log without an archive.
type Verifier struct {
	pool *pgxpool.Pool
	cold Cold
	objs *objects
	// witnesses is the policy the newest tree checkpoint's cosignatures
	// must satisfy; nil: none.
	witnesses *witness.Group
}

// RequireWitnesses makes a live verification require the newest tree
// checkpoint to be cosigned as the policy says (nil: no requirement).
func (v *Verifier) RequireWitnesses(policy *witness.Group) *Verifier {
	v.witnesses = policy
	return v
}

// Live checks the log through PostgreSQL and, when src is not nil, the
// archive; cold gives the archived events of ledger batches.
func Live(pool *pgxpool.Pool, cold Cold, src Source) *Verifier {
	v := &Verifier{pool: pool, cold: cold}
	if src != nil {
		v.objs = newObjects(src)
	}
	return v
}

// Offline checks a copy of the archive alone.
func Offline(src Source) *Verifier { return &Verifier{objs: newObjects(src)} }

// Verify checks the scope (the zero Scope: everything).
//
// Live, it checks the chain of the batches in scope, hot and archived
// events alike; that every archived part it read is listed, as it is, by a
// signed manifest; every manifest and the manifest chain; and the ledger's
// head against the newest signed checkpoint.
//
// Offline, it checks every manifest and the chain, every part its manifest
// lists, and every checkpoint's signature. A copy with no manifest and no
// checkpoint is a finding: it is not the archive, or not where it should be.
func (v *Verifier) Verify(ctx context.Context, s Scope) (Report, error) {
	rep := Report{Findings: []Finding{}}
	var fs findings
	var found chained
	var anchor treeAnchor
	var archived []placed // offline: every archived event's place, for the tree
	if v.pool != nil {
		var rebuild *trailRebuild
		if v.objs != nil {
			var err error
			if anchor, err = v.readAnchor(ctx, s); err != nil {
				return rep, err
			}
			if s == (Scope{}) {
				rebuild = newTrailRebuild(anchor.cps)
			}
		}
		var err error
		if found, err = chain(ctx, v.pool, s, v.cold, rebuild, v.objs != nil); err != nil {
			return rep, err
		}
		fs = append(fs, found.findings...)
		rep.EventsChecked = found.checked
		if rebuild != nil {
			rebuild.finish(&fs)
		}
	}
	if v.objs != nil {
		signed, err := v.objs.list(ctx)
		if err != nil {
			return rep, err
		}
		manifests, err := v.objs.checkManifests(ctx, signed.manifests, &fs)
		if err != nil {
			return rep, err
		}
		rep.Manifests = len(manifests)
		if v.pool != nil {
			rep.Parts = len(found.parts)
			listed(manifests, found.parts, &fs)
			if err := v.chainEnd(ctx, manifests, &fs); err != nil {
				return rep, err
			}
		} else {
			if err := v.objs.unlisted(ctx, manifests, &fs); err != nil {
				return rep, err
			}
			n, parts, err := v.allParts(ctx, manifests, &archived, &fs)
			if err != nil {
				return rep, err
			}
			rep.EventsChecked, rep.Parts = n, parts
		}
		newest, n, err := v.objs.checkCheckpoints(ctx, signed.checkpoints, v.pool == nil, &fs)
		if err != nil {
			return rep, err
		}
		rep.Checkpoints = n
		if v.pool != nil && newest != nil {
			if err := v.head(ctx, newest, &fs); err != nil {
				return rep, err
			}
		}
		if v.pool != nil {
			n, t, err := v.tree(ctx, s, anchor, found, signed.keys, &fs)
			if err != nil {
				return rep, err
			}
			rep.TreeCheckpoints, rep.Trail = n, t
		}
		if v.pool == nil {
			if rep.TreeCheckpoints, rep.TreeEvents, err = v.treeOffline(ctx, signed.keys, archived, &fs); err != nil {
				return rep, err
			}
		}
		if v.pool == nil && len(manifests) == 0 && n == 0 {
			fs.object(ArchiveEmpty, fmt.Sprint(v.objs.src), "%v holds no manifest under %s and no checkpoint under %s: it is not a copy of the archive bucket's root (the folder holding %s)",
				v.objs.src, format.ManifestPrefix, format.CheckpointPrefix, format.TablePrefix)
		}
	}
	rep.add(fs...)
	ids := map[string]bool{}
	for _, e := range found.trail {
		ids[e.id.String()] = true
	}
	rep.markTrail(ids)
	return rep, nil
}

// allParts checks every part the manifests list, once each, and that every
// later manifest lists it as the first did; the rows' places go to keep.
func (v *Verifier) allParts(ctx context.Context, manifests []*Manifest, keep *[]placed, fs *findings) (events, parts int, err error) {
	type entry struct {
		by   string
		part format.ManifestPart
	}
	first := map[string]entry{}
	for _, m := range manifests {
		for _, p := range m.Parts {
			if e, seen := first[p.Key]; seen {
				if p != e.part {
					fs.object(ManifestInvalid, m.Key, "%s lists %s otherwise than %s does", m.Key, p.Key, e.by)
				}
				continue
			}
			first[p.Key] = entry{m.Key, p}
			parts++
			n, err := v.objs.part(ctx, m.EventDate, p, nil, keep, fs)
			if err != nil {
				return events, parts, err
			}
			events += n
		}
	}
	return events, parts, nil
}

// listed reports each archived part the chain check read that no signed
// manifest lists with the same version and SHA-256.
func listed(manifests []*Manifest, used []ColdPart, fs *findings) {
	type entry struct{ version, sha256 string }
	known := map[string]entry{}
	for _, m := range manifests {
		for _, p := range m.Parts {
			known[p.Key] = entry{p.VersionID, p.SHA256}
		}
	}
	for _, p := range used {
		key, version, sum := p.Object()
		if e, ok := known[key]; !ok || e.version != version || e.sha256 != hex.EncodeToString(sum) {
			fs.object(PartUnlisted, key, "archived part %s (version %s) is not listed as it is by any signed manifest", key, version)
		}
	}
}

// chainEnd reports manifests missing from the end of the chain: the state
// table records how far it reached.
func (v *Verifier) chainEnd(ctx context.Context, manifests []*Manifest, fs *findings) error {
	var recorded int64
	if err := v.pool.QueryRow(ctx, `SELECT coalesce(max(manifest_seq), 0) FROM audit.archive_days`).Scan(&recorded); err != nil {
		return err
	}
	var last int64
	if n := len(manifests); n > 0 {
		last = manifests[n-1].ChainSeq
	}
	if last < recorded {
		fs.object(ManifestChain, format.ManifestPrefix, "the manifest chain ends at position %d; the archive recorded %d", last, recorded)
	}
	return nil
}

// head compares the ledger with the newest checkpoint: a truncated or
// rewritten head.
func (v *Verifier) head(ctx context.Context, cp *format.Checkpoint, fs *findings) error {
	var head int64
	if err := v.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit.ledger`).Scan(&head); err != nil {
		return err
	}
	var hash []byte
	err := v.pool.QueryRow(ctx, `SELECT batch_hash FROM audit.ledger WHERE seq = $1`, cp.Seq).Scan(&hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		fs.batch(LedgerTruncated, cp.Seq, "ledger truncated: batch %d was signed at %s, the ledger now ends at batch %d", cp.Seq, cp.SignedAt, head)
	case err != nil:
		return err
	case hex.EncodeToString(hash) != cp.BatchHash:
		fs.batch(HeadRewritten, cp.Seq, "batch %d differs from its checkpoint signed at %s", cp.Seq, cp.SignedAt)
	}
	return nil
}

// Part is the compactor's read-back of one part it wrote: the manifest at
// manifestKey must verify and list p exactly as want, and the object must
// hold exactly the rows hot gives, in order. Any finding is an error.
func Part(ctx context.Context, src Source, manifestKey string, want format.ManifestPart, hot Ledger) (*Manifest, error) {
	o := newObjects(src)
	var fs findings
	m, err := o.manifest(ctx, manifestKey, "", &fs)
	if err != nil {
		return nil, err
	}
	if m != nil {
		if len(m.Parts) < want.Part || m.Parts[want.Part-1] != want {
			fs.object(PartUnlisted, want.Key, "%s does not list part %d as %+v", manifestKey, want.Part, want)
		} else if _, err := o.part(ctx, m.EventDate, want, hot, nil, &fs); err != nil {
			return nil, err
		}
	}
	if len(fs) > 0 {
		return m, fmt.Errorf("%s (%s)", fs[0].Problem, fs[0].Kind)
	}
	return m, nil
}
