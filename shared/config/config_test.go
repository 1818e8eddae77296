package config_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/shared/config"
)

// FromEnvironment builds what func-go passes Start: ./cfg read as func-go
// reads it, with the whole environment over it.
func TestFromEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("AUDITFN_TEST_ENV", "from-env")
	t.Setenv("AUDITFN_TEST_BOTH", "env-wins")
	t.Setenv("AUDITFN_TEST_EQUALS", "a=b")

	c, err := config.FromEnvironment()
	require.NoError(t, err, "./cfg may be absent")
	assert.Equal(t, "from-env", c["AUDITFN_TEST_ENV"])
	assert.Equal(t, "a=b", c["AUDITFN_TEST_EQUALS"])
	assert.Equal(t, os.Getenv("PATH"), c["PATH"], "not only AUDITFN_ names")

	require.NoError(t, os.WriteFile(config.FuncFile, []byte(`# static settings

AUDITFN_TEST_BOTH=file
AUDITFN_TEST_FILE = "from-file"
`), 0o600))
	c, err = config.FromEnvironment()
	require.NoError(t, err)
	assert.Equal(t, "env-wins", c["AUDITFN_TEST_BOTH"])
	assert.Equal(t, "from-file", c["AUDITFN_TEST_FILE"], "spaces and quotes trimmed, as func-go does")
	assert.Equal(t, "from-env", c["AUDITFN_TEST_ENV"])
}

func TestFromEnvironmentOver(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile(config.FuncFile, []byte("AUDITFN_TEST_CFG=x\n"), 0o600))
	require.NoError(t, os.WriteFile("stack.env", []byte("AUDITFN_TEST_STACK=y\nAUDITFN_TEST_BOTH=file\n"), 0o600))
	t.Setenv("AUDITFN_TEST_BOTH", "env-wins")

	c, err := config.FromEnvironmentOver("stack.env")
	require.NoError(t, err)
	assert.Equal(t, "y", c["AUDITFN_TEST_STACK"])
	assert.Equal(t, "env-wins", c["AUDITFN_TEST_BOTH"])
	assert.NotContains(t, c, "AUDITFN_TEST_CFG", "the file named replaces ./cfg")

	c, err = config.FromEnvironmentOver("absent.env")
	require.NoError(t, err)
	assert.Equal(t, "env-wins", c["AUDITFN_TEST_BOTH"])

	_, err = config.FromEnvironmentOver(dir) // a directory: unreadable
	assert.Error(t, err)
}
