package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"simclr/internal/bench"
)

// TestPrecisionFlag: the jobs that run the encoder take --precision, show
// the resolved format with --dry-run (auto per device), run it (bench
// reports it), and reject a name that is not a format with an error that
// lists the accepted ones.
func TestPrecisionFlag(t *testing.T) {
	for _, name := range []string{"pretrain", "linear-eval", "export-embeddings", "bench"} {
		r := invoke(t, nil, name, "--help")
		if !strings.Contains(r.stdout, "--precision") || !strings.Contains(r.stdout, "auto, fp32, tf32 or bf16") {
			t.Errorf("%s --help lacks --precision and its values:\n%s", name, r.stdout)
		}
	}
	ckpt := savedEncoder(t, "resnet18", "cifar")
	out := filepath.Join(t.TempDir(), "e.npy")
	jobs := map[string][]string{
		"pretrain":          {"pretrain", "--dry-run", "--set", "data.limit=64", "--batch-size", "32"},
		"linear-eval":       {"linear-eval", "--dry-run", "--checkpoint", ckpt, "--set", "data.synthetic_size=100"},
		"export-embeddings": {"export-embeddings", "--dry-run", "--checkpoint", ckpt, "--set", "data.limit=50", "--out", out},
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"default on cpu", nil, nil, "matmul precision: fp32 on device cpu (train.precision auto from built-in default: bf16 on a CUDA device, fp32 on the CPU)"},
		{"default on cuda", []string{"--device", "cuda:0"}, nil, "matmul precision: bf16 on device cuda:0 (train.precision auto from built-in default"},
		{"default on auto", []string{"--device", "auto"}, nil, "matmul precision: bf16 if device auto opens a CUDA device that runs it, else fp32"},
		{"flag", []string{"--precision", "bf16"}, nil, "matmul precision: bf16 (train.precision from --precision)"},
		{"set", []string{"--set", "train.precision=tf32"}, nil, "matmul precision: tf32 (train.precision from --set train.precision=tf32)"},
		{"env", nil, []string{"SIMCLR_TRAIN_PRECISION=fp32"}, "matmul precision: fp32 (train.precision from environment variable SIMCLR_TRAIN_PRECISION)"},
		{"flag beats env", []string{"--precision", "tf32"}, []string{"SIMCLR_TRAIN_PRECISION=bf16"}, "matmul precision: tf32 (train.precision from --precision)"},
	}
	for job, base := range jobs {
		for _, tt := range tests {
			t.Run(job+"/"+tt.name, func(t *testing.T) {
				r := invoke(t, tt.env, append(append([]string{}, base...), tt.args...)...)
				if r.code != 0 {
					t.Fatalf("%v", r)
				}
				if !strings.Contains(r.stdout, tt.want) {
					t.Errorf("dry-run output lacks %q:\n%s", tt.want, r.stdout)
				}
			})
		}
		t.Run(job+"/bad value", func(t *testing.T) {
			r := invoke(t, nil, append(append([]string{}, base...), "--precision", "fp16")...)
			assertError(t, r, ExitError, "train.precision", `"fp16"`, "--precision", "auto, fp32, tf32, bf16")
		})
	}
	small := []string{"bench", "--device", "cpu", "--set", "model.width=2", "--set", "data.image_size=8", "--set", "train.batch_size=2",
		"--set", "model.head_out=8", "--channels", "1", "--steps", "1", "--warmup", "0", "--json"}
	for _, tc := range []struct{ flag, want string }{{"", "fp32"}, {"auto", "fp32"}, {"tf32", "tf32"}, {"bf16", "bf16"}} {
		args := small
		if tc.flag != "" {
			args = append(append([]string{}, small...), "--precision", tc.flag)
		}
		r := invoke(t, nil, args...)
		if r.code != 0 {
			t.Fatalf("bench --precision %q: %v", tc.flag, r)
		}
		var res bench.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("bench --json output: %v\n%s", err, r.stdout)
		}
		if res.Precision != tc.want {
			t.Errorf("bench --precision %q ran in %q, want %q", tc.flag, res.Precision, tc.want)
		}
	}
	r := invoke(t, nil, append(append([]string{}, small...), "--precision", "int8")...)
	assertError(t, r, ExitError, "train.precision", `"int8"`, "auto, fp32, tf32, bf16")
}
