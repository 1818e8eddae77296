// Package tlog is the Merkle tree over the audit ledger (docs/integrity.md
// §7): an RFC 6962 tree whose leaves are the events' hashes in ledger order.
// The collector's committer only sequences events (audit.ledger); Integrate
// appends them to the tree afterwards, off the commit path, storing the tree
// as C2SP tlog-tiles in PostgreSQL; Publisher signs C2SP checkpoints of it
// and publishes them, with the full tiles, to the Object Lock bucket.
package tlog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
)

// The tile geometry of C2SP tlog-tiles: 8 levels, 256 hashes wide.
const (
	TileHeight = 8
	TileWidth  = 1 << TileHeight
	hashSize   = 32
)

var hasher = rfc6962.DefaultHasher

// LeafHash is the tree's leaf for an event: RFC 6962's SHA-256(0x00 ‖
// event_hash), the event hash being the raw 32 bytes of §1.
func LeafHash(eventHash []byte) []byte { return hasher.HashLeaf(eventHash) }

// EmptyRoot is the root of the tree with no leaves.
func EmptyRoot() []byte { return hasher.EmptyRoot() }

// TilePath is where C2SP tlog-tiles puts tile (level, idx) holding width
// hashes: tile/<level>/<idx in groups of three digits, all but the last
// prefixed x>, with .p/<width> for a partial tile.
func TilePath(level, idx uint64, width int) string {
	p := "tile/" + fmt.Sprint(level) + "/" + indexPath(idx)
	if width < TileWidth {
		p += ".p/" + fmt.Sprint(width)
	}
	return p
}

func indexPath(n uint64) string {
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append(groups, fmt.Sprintf("x%03d", n%1000))
	}
	for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
		groups[i], groups[j] = groups[j], groups[i]
	}
	return strings.Join(groups, "/")
}

// ParseTilePath is the tile at a C2SP tlog-tiles path (TilePath's form):
// its level, index and width.
func ParseTilePath(p string) (level, idx uint64, width int, err error) {
	bad := fmt.Errorf("not a tile path: %q", p)
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return 0, 0, 0, bad
	}
	width = TileWidth
	if before, w, partial := strings.Cut(rest, ".p/"); partial {
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n >= TileWidth || strconv.Itoa(n) != w {
			return 0, 0, 0, bad
		}
		rest, width = before, n
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 {
		return 0, 0, 0, bad
	}
	if level, err = strconv.ParseUint(parts[0], 10, 8); err != nil || strconv.FormatUint(level, 10) != parts[0] {
		return 0, 0, 0, bad
	}
	for i, g := range parts[1:] {
		if i < len(parts)-2 {
			g, ok = strings.CutPrefix(g, "x")
			if !ok {
				return 0, 0, 0, bad
			}
		}
		n, err := strconv.ParseUint(g, 10, 64)
		if err != nil || len(g) != 3 || idx > (1<<63)/1000 {
			return 0, 0, 0, bad
		}
		idx = idx*1000 + n
	}
	if TilePath(level, idx, width) != p {
		return 0, 0, 0, bad
	}
	return level, idx, width, nil
}
