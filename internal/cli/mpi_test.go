//go:build mpi

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"simclr/internal/dist/disttest"
	"simclr/internal/runlog"
	"simclr/internal/safetensors"
	"simclr/internal/train"
)

// mpiPretrainArgs is a tiny pretraining run: 32 synthetic 16-px images,
// global batch 8 (4 steps per epoch).
func mpiPretrainArgs(out string, epochs string) []string {
	return []string{"pretrain", "--out", out, "--epochs", epochs, "--batch-size", "8",
		"--set", "data.synthetic_size=32", "--set", "data.image_size=16", "--set", "model.width=8",
		"--set", "data.workers=1", "--set", "dist.timeout=60"}
}

// TestMPIPretrainCLI: `mpirun -np 2 simclr pretrain` trains; rank 0 alone
// prints and writes the run directory, the other rank prints nothing.
func TestMPIPretrainCLI(t *testing.T) {
	if !disttest.InRank(t) {
		out := filepath.Join(t.TempDir(), "run")
		if o, err := disttest.Start(t, 2, 3*time.Minute, "SIMCLR_TEST_OUT="+out); err != nil {
			t.Fatalf("mpirun: %v\n%s", err, o)
		}
		rows, err := runlog.ReadMetrics(filepath.Join(out, train.MetricsFile))
		if err != nil || len(rows) != 4 {
			t.Fatalf("metrics of the 2-rank run: %d rows, %v; want 4", len(rows), err)
		}
		return
	}
	rank := os.Getenv("OMPI_COMM_WORLD_RANK")
	out := os.Getenv("SIMCLR_TEST_OUT")
	r := invoke(t, nil, mpiPretrainArgs(out, "1")...)
	if r.code != 0 {
		t.Fatalf("rank %s: %v", rank, r)
	}
	if rank == "0" {
		if !strings.Contains(r.stdout, "pretrained 1 epochs (4 steps)") || !strings.Contains(r.stderr, "distributed: 2 ranks over mpi") {
			t.Errorf("rank 0 output lacks the summary or the distributed banner: %v", r)
		}
	} else if r.stdout != "" || r.stderr != "" {
		t.Errorf("rank %s printed something: %v", rank, r)
	}
}

// TestMPIRankDies: rank 1 crashes (exits without a word) once rank 0 has
// written the first checkpoint. The job must end promptly with a non-zero
// status instead of hanging, and the checkpoint must load and resume in one
// process.
func TestMPIRankDies(t *testing.T) {
	if !disttest.InRank(t) {
		out := filepath.Join(t.TempDir(), "run")
		start := time.Now()
		o, err := disttest.Start(t, 2, 3*time.Minute, "SIMCLR_TEST_OUT="+out)
		if err == nil {
			t.Fatalf("the job with a dead rank exited 0:\n%s", o)
		}
		t.Logf("the job stopped %.1fs after its start: %v", time.Since(start).Seconds(), err)
		if !strings.Contains(o, "exited") && !strings.Contains(o, "non-zero") {
			t.Errorf("mpirun's output does not say a process exited:\n%s", o)
		}
		f, err := safetensors.Read(filepath.Join(out, train.CheckpointFile))
		if err != nil {
			t.Fatalf("the last checkpoint does not load: %v", err)
		}
		t.Logf("checkpoint at step %s", f.Metadata["step"])
		if r := invoke(t, nil, "pretrain", "--resume", out, "--quiet"); r.code != 0 || !strings.Contains(r.stdout, "pretrained 20 epochs") {
			t.Fatalf("resume in one process: %v", r)
		}
		return
	}
	rank := os.Getenv("OMPI_COMM_WORLD_RANK")
	out := os.Getenv("SIMCLR_TEST_OUT")
	if rank == "1" {
		go func() {
			for {
				if _, err := os.Stat(filepath.Join(out, train.CheckpointFile)); err == nil {
					os.Exit(9) // a crash: no message, no MPI_Finalize
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	r := invoke(t, nil, mpiPretrainArgs(out, "20")...)
	t.Fatalf("rank %s finished a run whose rank 1 died: %v", rank, r)
}
