package archive

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"function/test/testenv"
)

// The order Go hands to SQL is the order the table's trigger enforces: a
// part recorded through every state in states' order is accepted at each
// step, and loadParts then finds it in the last.
func TestStatesFollowTheTablesOrder(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	// As the owner: the application role may not record a drop.
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	d := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	p := partState{Part: 1, Range: partRange{Day: d, After: 0, Through: 7}, Key: "k", VersionID: "v", Size: 1,
		SHA256: make([]byte, 32), Digest: make([]byte, 32), Manifest: manifestRef{Seq: 1, Key: "m", SHA256: make([]byte, 32)}}
	p.Stats.Rows, p.Stats.MinEventTime, p.Stats.MaxEventTime = 3, d, d
	for _, s := range states {
		p.State = s
		require.NoError(t, record(ctx, conn, &p), "state %s after its predecessor", s)
		parts, err := loadParts(ctx, conn, d)
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, s, parts[0].State, "the newest state by states' order")
	}
}
