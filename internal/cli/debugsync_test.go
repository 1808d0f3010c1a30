//go:build cudaemu

package cli

import (
	"testing"

	"simclr/internal/backend/cuda"
)

// TestDebugSyncFlag checks that --debug-sync (and SIMCLR_CUDA_SYNC=1)
// reach the CUDA backend and that a bench runs with it.
func TestDebugSyncFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		b, err := openBackend("cuda", on)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.(*cuda.Backend).DebugSync(); got != on {
			t.Errorf("openBackend(cuda, debugSync=%v): backend debug sync %v", on, got)
		}
		b.Close()
	}
	if r := invoke(t, nil, append(tinyBench, "--steps", "1", "--debug-sync")...); r.code != 0 {
		t.Fatalf("bench --debug-sync: %v", r)
	}
	t.Setenv(cuda.SyncEnv, "1")
	if r := invoke(t, []string{cuda.SyncEnv + "=1"}, append(tinyBench, "--steps", "1")...); r.code != 0 {
		t.Fatalf("bench with %s=1: %v", cuda.SyncEnv, r)
	}
	b, err := openBackend("cuda", false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.(*cuda.Backend).DebugSync() {
		t.Errorf("%s=1: backend debug sync off", cuda.SyncEnv)
	}
}
