package train

import (
	"strings"
	"testing"
)

// TestDescribeLoss: the dry-run's loss line for the 65,536-pair batch at
// D = 128 (fused: 130.5 MiB; materialised: 128 GiB of s and ds) and for a
// small batch, and the error of an unknown loss.fused value.
func TestDescribeLoss(t *testing.T) {
	for _, tt := range []struct {
		mode       string
		rows, dim  int
		wants      []string
		wantErrSub string
	}{
		{"auto", 1 << 17, 128, []string{"2N = 131072 rows of 128", "fused on the cpu, fused on a GPU", "130.50 MiB fused, 128.1 GiB materialised"}, ""},
		{"auto", 64, 64, []string{"materialised on the cpu, materialised on a GPU"}, ""},
		{"off", 256, 64, []string{"loss.fused off: materialised on the cpu, materialised on a GPU"}, ""},
		{"yes", 256, 64, nil, "auto, on, off"},
	} {
		line, err := describeLoss(tt.mode, 0.1, tt.rows, tt.dim)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("mode %q: error %v, want one containing %q", tt.mode, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.wants {
			if !strings.Contains(line, w) {
				t.Errorf("%q lacks %q", line, w)
			}
		}
	}
}
