//go:build cuda

package dist

import (
	"strings"
	"testing"
)

// TestNCCLLoadsOrNamesTheFix: on a machine with NCCL the library loads and
// reports a 2.x version; without it the error says what to install.
func TestNCCLLoadsOrNamesTheFix(t *testing.T) {
	v, err := loadNCCL()
	if err != nil {
		if !strings.Contains(err.Error(), "libnccl.so.2") || !strings.Contains(err.Error(), "install NCCL") {
			t.Fatalf("error without the fix: %v", err)
		}
		t.Skipf("no NCCL here: %v", err)
	}
	if v < 20000 {
		t.Errorf("NCCL version %d, want 2.x (>= 20000)", v)
	}
}
