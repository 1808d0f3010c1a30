// Package gpucheck tests tools/gpu/check.sh against fake binaries: no GPU,
// no Go build of the CUDA path, a few milliseconds per case.
package gpucheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakes are shell scripts standing in for the bundle's binaries and tools.
const (
	pass       = "#!/bin/sh\necho \"fake $0 $*\"\nexit 0\n"
	fail       = "#!/bin/sh\necho \"fake $0 $*: FAIL\"\nexit 1\n"
	benchFails = "#!/bin/sh\ncase \"$1\" in bench) echo 'bench: out of memory'; exit 1;; esac\necho ok\n"
	noTorch    = "#!/bin/sh\nexit 1\n"
	// simclrOK passes every command; bench at 4,096 pairs reports a peak
	// of 22.24 GB (bench --json); pretrain prints a final loss and,
	// with dist.backend=nccl, the line reporting the NCCL collectives.
	simclrOK = "#!/bin/sh\necho \"fake $0 $*\"\n" + peak4096 + "case \"$1\" in pretrain)\n" +
		"  case \"$*\" in *dist.backend=nccl*) echo \"distributed: tensors' collectives through nccl 22304 on cuda:${LOCAL_RANK:-0}\";; esac\n" +
		"  echo 'pretrained 2 epochs (8 steps) in 1.0s, final loss 4.1234';;\nesac\nexit 0\n"
	// peak4096 is bench --json's peak at 4,096 pairs.
	peak4096 = "case \"$*\" in *train.batch_size=4096*) echo '{\"peak_bytes\": 22240000000}';; esac\n"
	// twoGPUs is nvidia-smi on a machine with 2 GPUs.
	twoGPUs     = "#!/bin/sh\n[ \"$1\" = -L ] && printf 'GPU 0: NVIDIA H100 (UUID: a)\\nGPU 1: NVIDIA H100 (UUID: b)\\n'\nexit 0\n"
	raceFinding = "#!/bin/sh\necho \"$*\" >>\"$SANITIZER_ARGS\"\ncase \"$*\" in *racecheck*) echo '========= ERROR: Race reported'; exit 1;; esac\nexit 0\n"
)

// tools are the commands check.sh needs from the host; the test's PATH has
// only these (and the fakes), so a host's compute-sanitizer, nvidia-smi or
// PyTorch cannot change the outcome.
var tools = []string{"bash", "sh", "dirname", "mkdir", "date", "tee", "cat", "tail", "timeout", "env", "sed", "grep", "awk", "basename"}

type setup struct {
	bin  map[string]string // bin/NAME -> script; "" leaves it out
	path map[string]string // extra commands on PATH -> script
}

// runCheck lays out a fake repository (tools/gpu/check.sh, bin/, the
// parity package directory), runs check.sh in it and returns its exit
// status, its output and the report's verdicts.txt lines.
func runCheck(t *testing.T, s setup, env ...string) (int, string, []string) {
	t.Helper()
	root := t.TempDir()
	script, err := os.ReadFile("check.sh")
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, body string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "tools", "gpu", "check.sh"), string(script), 0o755)
	if err := os.MkdirAll(filepath.Join(root, "internal", "backend", "cuda"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range s.bin {
		if body != "" {
			write(filepath.Join(root, "bin", name), body, 0o755)
		}
	}
	pathDir := filepath.Join(root, "path")
	if err := os.MkdirAll(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("check.sh needs %s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(pathDir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(pathDir, "python3"), noTorch, 0o755)
	for name, body := range s.path {
		write(filepath.Join(pathDir, name), body, 0o755)
	}
	out := filepath.Join(root, "report")
	cmd := exec.Command(filepath.Join(pathDir, "bash"), filepath.Join(root, "tools", "gpu", "check.sh"), out)
	cmd.Env = append([]string{"PATH=" + pathDir, "HOME=" + root, "LC_ALL=C"}, env...)
	output, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run check.sh: %v\n%s", err, output)
		}
		code = ee.ExitCode()
	}
	raw, err := os.ReadFile(filepath.Join(out, "verdicts.txt"))
	if err != nil {
		t.Fatalf("no verdicts.txt: %v\n%s", err, output)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) == 0 || lines[0] != "## verdicts" {
		t.Fatalf("verdicts.txt does not start with \"## verdicts\":\n%s", raw)
	}
	// The verdicts end the printed report too (before the "report in" line).
	if !strings.Contains(string(output), strings.Join(lines, "\n")+"\nreport in ") {
		t.Errorf("the printed report does not end with the verdicts:\n%s", output)
	}
	return code, string(output), lines[1:]
}

func checkVerdicts(t *testing.T, got, want []string, code, wantCode int, output string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("verdicts:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if code != wantCode {
		t.Errorf("exit status %d, want %d", code, wantCode)
	}
	if t.Failed() {
		t.Logf("output:\n%s", output)
	}
}

// noGPUs: the test's PATH has no nvidia-smi.
const noGPUs = "SKIP nccl 2 ranks (nvidia-smi -L lists 0 GPU(s); needs 2)"

var noSanitizer = []string{
	"SKIP compute-sanitizer memcheck (not installed)",
	"SKIP compute-sanitizer racecheck (not installed)",
	"SKIP compute-sanitizer synccheck (not installed)",
	"SKIP compute-sanitizer initcheck (not installed)",
}

func verdicts(parts ...[]string) []string { return slices.Concat(parts...) }

func TestCheckAllPass(t *testing.T) {
	code, out, got := runCheck(t, setup{bin: map[string]string{"simclr-cuda": simclrOK, "cuda-parity.test": pass}})
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "PASS nccl 1 rank", noGPUs, "SKIP pytorch (python3 -c 'import torch' failed)"}), code, 0, out)
}

func TestCheckMissingBinary(t *testing.T) {
	code, out, got := runCheck(t, setup{bin: map[string]string{"cuda-parity.test": pass}})
	missing := "missing bin/simclr-cuda; build it with make gpu-bundle"
	checkVerdicts(t, got, verdicts([]string{"FAIL device (" + missing + ")", "PASS parity"}, noSanitizer,
		[]string{"FAIL bench (" + missing + ")", "FAIL kernel-times (" + missing + ")", "FAIL bench-4096-recompute (" + missing + ")", "FAIL nccl 1 rank (" + missing + ")", noGPUs,
			"SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
}

func TestCheckParityFails(t *testing.T) {
	code, out, got := runCheck(t, setup{bin: map[string]string{"simclr-cuda": simclrOK, "cuda-parity.test": fail}})
	checkVerdicts(t, got, verdicts([]string{"PASS device", "FAIL parity (exit 1)"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "PASS nccl 1 rank", noGPUs, "SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
	if !strings.Contains(out, "cuda-parity.test -test.count=1 -test.v: FAIL") {
		t.Errorf("the parity binary's output is not in the report:\n%s", out)
	}
}

func TestCheckBenchFails(t *testing.T) {
	code, out, got := runCheck(t, setup{bin: map[string]string{"simclr-cuda": benchFails, "cuda-parity.test": pass}})
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"FAIL bench (exit 1)", "FAIL kernel-times (exit 1)", "FAIL bench-4096-recompute (exit 1)", "FAIL nccl 1 rank (no final loss in nccl-1.txt or nccl-ref.txt)", noGPUs, "SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
}

func TestCheckSanitizer(t *testing.T) {
	args := filepath.Join(t.TempDir(), "sanitizer-args")
	code, out, got := runCheck(t, setup{
		bin:  map[string]string{"simclr-cuda": simclrOK, "cuda-parity.test": pass},
		path: map[string]string{"compute-sanitizer": raceFinding},
	}, "SANITIZER_ARGS="+args, "SANITIZER_RUN=Conv")
	checkVerdicts(t, got, []string{"PASS device", "PASS parity",
		"PASS compute-sanitizer memcheck", "FAIL compute-sanitizer racecheck (exit 1)",
		"PASS compute-sanitizer synccheck", "PASS compute-sanitizer initcheck",
		"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "PASS nccl 1 rank", noGPUs, "SKIP pytorch (python3 -c 'import torch' failed)"}, code, 1, out)
	raw, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(calls) != 4 {
		t.Fatalf("compute-sanitizer ran %d times, want 4 (one per tool):\n%s", len(calls), raw)
	}
	for i, tool := range []string{"memcheck", "racecheck", "synccheck", "initcheck"} {
		want := "--tool " + tool + " --error-exitcode 1 ../../../bin/cuda-parity.test -test.count=1 -test.run Conv"
		if calls[i] != want {
			t.Errorf("call %d: compute-sanitizer %s\nwant compute-sanitizer %s", i, calls[i], want)
		}
	}
}

// TestCheckNCCLTwoRanks: with two GPUs listed, the 2-rank NCCL run starts
// two ranks torchrun-style and passes when rank 0's final loss matches the
// one-process run, and fails, naming both losses, when it does not.
func TestCheckNCCLTwoRanks(t *testing.T) {
	s := setup{bin: map[string]string{"simclr-cuda": simclrOK, "cuda-parity.test": pass},
		path: map[string]string{"nvidia-smi": twoGPUs}}
	code, out, got := runCheck(t, s)
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "PASS nccl 1 rank", "PASS nccl 2 ranks", "SKIP pytorch (python3 -c 'import torch' failed)"}), code, 0, out)
	for _, w := range []string{"on cuda:0", "on cuda:1", "--set dist.backend=single"} {
		if !strings.Contains(out, w) {
			t.Errorf("the report does not show %q:\n%s", w, out)
		}
	}

	// The reference (one process) ends with another loss.
	const refDiffers = "#!/bin/sh\n" + peak4096 + "case \"$*\" in *dist.backend=single*) echo 'final loss 3.9000'; exit 0;; esac\n" +
		"case \"$*\" in *dist.backend=nccl*) echo \"collectives through nccl\";; esac\necho 'final loss 4.1234'\nexit 0\n"
	s.bin["simclr-cuda"] = refDiffers
	code, out, got = runCheck(t, s)
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "FAIL nccl 1 rank (final loss 4.1234 vs 3.9000 in one process)",
			"FAIL nccl 2 ranks (final loss 4.1234 vs 3.9000 in one process)", "SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
}

// TestCheckNCCLNotUsed: a run that finishes without reporting NCCL
// collectives (it fell back to the host) fails the NCCL step.
func TestCheckNCCLNotUsed(t *testing.T) {
	const noNCCL = "#!/bin/sh\n" + peak4096 + "echo 'final loss 4.1234'\nexit 0\n"
	code, out, got := runCheck(t, setup{bin: map[string]string{"simclr-cuda": noNCCL, "cuda-parity.test": pass}})
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "PASS memory-24gb", "FAIL nccl 1 rank (the run did not report NCCL collectives)", noGPUs,
			"SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
}

// TestCheckMemoryOver24GB: a 4,096-pair recomputing bench whose peak is
// above 24 GB fails the memory step, saying the peak.
func TestCheckMemoryOver24GB(t *testing.T) {
	big := strings.Replace(simclrOK, "22240000000", "25100000000", 1)
	code, out, got := runCheck(t, setup{bin: map[string]string{"simclr-cuda": big, "cuda-parity.test": pass}})
	checkVerdicts(t, got, verdicts([]string{"PASS device", "PASS parity"}, noSanitizer,
		[]string{"PASS bench", "PASS kernel-times", "PASS bench-4096-recompute", "FAIL memory-24gb (exit 1)", "PASS nccl 1 rank", noGPUs,
			"SKIP pytorch (python3 -c 'import torch' failed)"}), code, 1, out)
	if !strings.Contains(out, "peak 25.10 GB handed out by the pool (target: at most 24 GB)") {
		t.Errorf("the report does not state the peak:\n%s", out)
	}
}
