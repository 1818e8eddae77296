// Package tlog is the Merkle tree over the audit ledger (docs/integrity.md
// §7): an RFC 6962 tree whose leaves are the events' hashes in ledger order.
// The collector's committer only sequences events (audit.ledger); Integrate
// appends them to the tree afterwards, off the commit path, storing the tree
// as C2SP tlog-tiles in PostgreSQL; Publisher signs C2SP checkpoints of it
// and publishes them, with the full tiles, to the Object Lock bucket.
package tlog

import (
	"fmt"
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
