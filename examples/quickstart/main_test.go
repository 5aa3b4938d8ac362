package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	var out strings.Builder
	sum, err := run(t.Context(), path, &out)
	require.NoError(t, err)

	want := int64(writers * perWriter)
	require.Equal(t, want, sum.Placed.Orders, "orders placed")
	require.Equal(t, sum.Placed.Orders, sum.After.Orders-sum.Before.Orders, "orders counted by reports")
	require.Equal(t, sum.Placed.Cents, sum.After.Cents-sum.Before.Cents, "cents counted by reports")
	require.Equal(t, readers*perReader, sum.Seen.Reads, "reads by reports")

	// Both packages used one pool: the same figures through both handles,
	// one writer connection, and a writer acquire for each order.
	s := sum.Stats
	require.True(t, sum.SameStats, "the two handles report different stats: not one pool")
	require.Equal(t, 2, s.Handles, "handles open when the stats were taken")
	require.Equal(t, uint64(1), s.Writer.Created, "writer connections created")
	require.Equal(t, uint64(want), s.Writer.Acquires, "writer acquires")
	require.Equal(t, uint64(readers*perReader+2), s.Readers.Acquires, "reader acquires (the watch, plus the totals before and after)")
	require.LessOrEqual(t, s.Readers.Created, uint64(s.Readers.Max), "readers created")
	require.Zero(t, s.Writer.InUse+s.Readers.InUse, "connections still leased")
	require.Zero(t, s.Writer.RollbacksOnRelease+s.Readers.RollbacksOnRelease, "rollbacks on release")
	require.False(t, sum.WALLeft, "a -wal file is left after the last Close")

	require.Contains(t, out.String(), "both handles report the same stats: true")
}

// TestRunAgain runs twice on one file: schema.Init leaves the existing
// schema alone, and the second run counts only its own orders.
func TestRunAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	first, err := run(t.Context(), path, new(strings.Builder))
	require.NoError(t, err)
	second, err := run(t.Context(), path, new(strings.Builder))
	require.NoError(t, err)

	require.Equal(t, first.After, second.Before, "totals kept between runs")
	require.Equal(t, 2*first.Placed.Orders, second.After.Orders, "orders after two runs")
}

func TestMemoryRefused(t *testing.T) {
	err := mainErr(":memory:")
	require.ErrorContains(t, err, "file:/shop?vfs=memdb")
}
