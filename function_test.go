package function

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"function/shared/catalog"
	"function/shared/earlyconn"
)

// The functions that take a connection dialled at init are exactly those
// that serve from a catalog snapshot (whose Start takes it): any other
// would leave the backend unused.
func TestEarlyConnectionIsDialledForDiscoveryOnly(t *testing.T) {
	for name, mk := range Functions {
		_, discovery := mk().(interface{ Catalog() *catalog.Catalog })
		assert.Equal(t, discovery, slices.Contains(earlyconn.Functions, name), name)
	}
	for _, name := range earlyconn.Functions {
		assert.Contains(t, Functions, name)
	}
}
