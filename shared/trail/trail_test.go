package trail_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"
	"testing"

	"github.com/pokt-network/smt/kvstore/simplemap"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/trail"
)

// reference computes the map's root straight from docs/integrity.md §9's
// definition, without the trie library: an empty subtree is 32 zero bytes,
// a subtree of one entry its leaf SHA-256(0x00 ‖ path ‖ value), any other
// SHA-256(0x01 ‖ left ‖ right), splitting on the paths' bits from the top.
func reference(entries map[string]trail.Entry) []byte {
	type kv struct{ path, value []byte }
	var all []kv
	for id, e := range entries {
		p := sha256.Sum256([]byte(id))
		all = append(all, kv{p[:], e.Encode()})
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].path, all[j].path) < 0 })
	bit := func(p []byte, d int) int { return int(p[d/8]>>(7-d%8)) & 1 }
	var node func(kvs []kv, depth int) []byte
	node = func(kvs []kv, depth int) []byte {
		switch len(kvs) {
		case 0:
			return make([]byte, 32)
		case 1:
			h := sha256.Sum256(append(append([]byte{0}, kvs[0].path...), kvs[0].value...))
			return h[:]
		}
		split := sort.Search(len(kvs), func(i int) bool { return bit(kvs[i].path, depth) == 1 })
		h := sha256.Sum256(append(append([]byte{1}, node(kvs[:split], depth+1)...), node(kvs[split:], depth+1)...))
		return h[:]
	}
	return node(all, 0)
}

func TestTheRootIsTheDocumentedDefinition(t *testing.T) {
	m := trail.Open(simplemap.NewSimpleMap(), nil)
	assert.Equal(t, trail.EmptyRoot(), []byte(m.Root()))
	entries := map[string]trail.Entry{}
	for i := range 300 {
		id := fmt.Sprintf("rr-%d", i%97)
		e := entries[id].Extend(uint64(i), []byte(fmt.Sprintf("event %d", i)))
		entries[id] = e
		require.NoError(t, m.Update([]byte(id), e.Encode()))
		if i%50 == 49 {
			require.NoError(t, m.Commit())
			assert.Equal(t, reference(entries), []byte(m.Root()), "after %d events", i+1)
		}
	}
}

func TestProofsShowAnEntryOrItsAbsenceAndNothingElse(t *testing.T) {
	store := simplemap.NewSimpleMap()
	m := trail.Open(store, nil)
	var e trail.Entry
	for i := range 40 {
		id := fmt.Sprintf("rr-%d", i%8)
		got, _, err := trail.Get(m, id)
		require.NoError(t, err)
		e = got.Extend(uint64(i), []byte{byte(i)})
		require.NoError(t, m.Update([]byte(id), e.Encode()))
	}
	require.NoError(t, m.Commit())
	root := []byte(m.Root())
	// Reopened from its nodes, as a reader of the database does.
	m = trail.Open(store, root)

	got, p, err := trail.Prove(m, "rr-7")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, e, *got)
	assert.EqualValues(t, 5, got.Count)
	require.NoError(t, p.Verify(root, "rr-7", got))

	fewer := *got
	fewer.Count--
	assert.ErrorIs(t, p.Verify(root, "rr-7", &fewer), trail.ErrProof, "a count the map does not hold")
	assert.ErrorIs(t, p.Verify(root, "rr-6", got), trail.ErrProof, "another trail's entry")
	assert.ErrorIs(t, p.Verify(root, "rr-7", nil), trail.ErrProof, "an entry shown absent")

	none, p, err := trail.Prove(m, "never")
	require.NoError(t, err)
	assert.Nil(t, none)
	require.NoError(t, p.Verify(root, "never", nil))
	assert.ErrorIs(t, p.Verify(root, "never", got), trail.ErrProof)
	assert.ErrorIs(t, p.Verify(trail.EmptyRoot(), "rr-7", got), trail.ErrProof, "another root")
}

func TestTheRootLineRoundTrips(t *testing.T) {
	root := sha256.Sum256([]byte("x"))
	got, err := trail.RootOf([]byte("other line\n" + trail.Line(root[:]) + "\n"))
	require.NoError(t, err)
	assert.Equal(t, root[:], got)
	_, err = trail.RootOf([]byte("other line\n"))
	assert.ErrorIs(t, err, trail.ErrNoLine)
	_, err = trail.RootOf([]byte(trail.LinePrefix + "!!\n"))
	assert.Error(t, err)
	e, err := trail.Decode(trail.Entry{Count: 3, Last: 9, Rolling: root}.Encode())
	require.NoError(t, err)
	assert.Equal(t, trail.Entry{Count: 3, Last: 9, Rolling: root}, e)
	_, err = trail.Decode([]byte{1, 2})
	assert.Error(t, err)
}

func TestAMalformedProofIsRefused(t *testing.T) {
	for _, other := range [][]byte{nil, {0}, {1}, {0, 1, 2}, make([]byte, 33), make([]byte, 80)} {
		p := trail.Proof{SideNodes: [][]byte{{1}, nil, make([]byte, 64)}, OtherLeaf: other}
		assert.Error(t, p.Verify(make([]byte, 32), "x", nil), "%x", other)
		assert.Error(t, p.Verify(make([]byte, 32), "x", &trail.Entry{}), "%x", other)
	}
	tooDeep := trail.Proof{SideNodes: make([][]byte, 300)}
	assert.Error(t, tooDeep.Verify(make([]byte, 32), "x", nil))
}
