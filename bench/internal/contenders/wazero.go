package contenders

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// Wazero builds the bench/wazero module (database/sql on ncruces v0.32.0,
// the last engine release on the wazero runtime) from dir into binDir and
// starts it as a child process that runs every cell it is sent. Close the
// returned Remote to end the child.
func Wazero(ctx context.Context, dir, binDir string) (*harness.Remote, error) {
	bin := filepath.Join(binDir, "wazero-bench")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build %s: %w", dir, err)
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	return harness.StartRemote("wazero", cmd)
}
