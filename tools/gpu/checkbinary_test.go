package gpucheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckBinary runs tools/gpu/check-binary.sh on small C programs: one
// that behaves like a cuda binary without the driver (exit 3, simclr's
// message, no libcuda dependency) and one linked against a libcuda.so.1.
func TestCheckBinary(t *testing.T) {
	for _, tool := range []string{"cc", "readelf", "objdump", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cc := func(args ...string) {
		t.Helper()
		cmd := exec.Command("cc", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	write("good.c", `#include <stdio.h>
int main(void) { fprintf(stderr, "simclr: no CUDA device found: the NVIDIA driver library libcuda.so.1 cannot be loaded (test)\n"); return 3; }
`)
	write("cuda.c", "int cuInit(unsigned int f) { return (int)f; }\n")
	write("linked.c", "int cuInit(unsigned int);\nint main(void) { return cuInit(0); }\n")
	if err := os.Mkdir(filepath.Join(dir, "good"), 0o755); err != nil {
		t.Fatal(err)
	}
	cc("-o", "good/simclr-cuda", "good.c")
	cc("-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", "libcuda.so", "cuda.c")
	cc("-o", "linked", "linked.c", "-L.", "-lcuda")

	check := func(args ...string) (int, string) {
		t.Helper()
		script, err := filepath.Abs("check-binary.sh")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, out := check("good/simclr-cuda")
	if code != 0 || !strings.Contains(out, "PASS good/simclr-cuda has no libcuda dependency") ||
		!strings.Contains(out, "PASS good/simclr-cuda needs glibc 2.") || strings.Contains(out, "FAIL") {
		t.Errorf("a well-behaved binary: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "PASS good/simclr-cuda without libcuda.so.1 exits 3") && !strings.Contains(out, "SKIP good/simclr-cuda without libcuda.so.1") {
		t.Errorf("no verdict on the run without the driver:\n%s", out)
	}
	code, out = check("linked")
	if code != 1 || !strings.Contains(out, "FAIL linked links libcuda directly") {
		t.Errorf("a binary linked against libcuda: exit %d, want 1 and a FAIL naming it\n%s", code, out)
	}
	code, out = check("missing")
	if code != 1 || !strings.Contains(out, "FAIL missing (missing;") {
		t.Errorf("a missing binary: exit %d, want 1\n%s", code, out)
	}
	code, out = check("--max-glibc", "2.2.5", "good/simclr-cuda")
	if code != 1 || !strings.Contains(out, "newer than 2.2.5") {
		t.Errorf("--max-glibc 2.2.5: exit %d, want 1 and the version named\n%s", code, out)
	}
	code, out = check("--max-glibc", "99.0", "good/simclr-cuda")
	if code != 0 || !strings.Contains(out, "(<= 99.0)") {
		t.Errorf("--max-glibc 99.0: exit %d, want 0\n%s", code, out)
	}
}
