package interop

import (
	"os"
	"testing"
)

// TestMain runs from the repository root: testenv finds the local stack
// beside the nearest go.mod, and this module has its own.
func TestMain(m *testing.M) {
	if err := os.Chdir("../.."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
