// Package cudashim tests tools/cudashim/build.sh: the archive it builds
// forwards driver calls to whatever libcuda.so.1 is loadable at start-up,
// returns CUDA_ERROR_NOT_FOUND without one, and leaves the program with no
// libcuda dependency, so the dynamic loader never refuses to start it.
package cudashim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubDir is where the toolkit's driver stub lives (CUDA_STUBS in the
// Makefile).
func stubDir() string {
	if d := os.Getenv("CUDA_STUBS"); d != "" {
		return d
	}
	return "/usr/lib/x86_64-linux-gnu/stubs"
}

const program = `#include <stdio.h>
int cuInit(unsigned int);
int cuDeviceGetCount(int*);
int cuMemAlloc_v2(unsigned long long*, unsigned long);
int main(void) {
	int n = -1;
	int a = cuInit(0), b = cuDeviceGetCount(&n);
	unsigned long long p = 0;
	int c = cuMemAlloc_v2(&p, 16);
	printf("cuInit=%d cuDeviceGetCount=%d n=%d cuMemAlloc_v2=%d\n", a, b, n, c);
	return 0;
}
`

// fakeDriver implements two driver functions; cuMemAlloc_v2 is missing.
const fakeDriver = `int cuInit(unsigned int flags) { return flags == 0 ? 7 : 1; }
int cuDeviceGetCount(int* n) { *n = 3; return 0; }
`

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestShim(t *testing.T) {
	if _, err := os.Stat(filepath.Join(stubDir(), "libcuda.so")); err != nil {
		t.Skipf("no CUDA driver stub: %v (install the CUDA toolkit or set CUDA_STUBS)", err)
	}
	for _, tool := range []string{"cc", "ar", "nm", "readelf", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	script, err := filepath.Abs("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "bash", script, filepath.Join(dir, "shim"), stubDir())
	for name, src := range map[string]string{"prog.c": program, "fake.c": fakeDriver} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Linked as the cuda binary is: -lcuda found in the shim directory.
	run(t, dir, nil, "cc", "-o", "prog", "prog.c", "-L"+filepath.Join(dir, "shim"), "-lcuda", "-ldl")
	if out := run(t, dir, nil, "readelf", "-d", "prog"); strings.Contains(out, "libcuda") {
		t.Errorf("the program depends on libcuda:\n%s", out)
	}

	// No driver anywhere the loader looks: the program still starts and
	// every call returns 500. Only where no libcuda.so.1 is installed (the
	// loader would find one; make check-cuda-bin hides it with unshare).
	if out, _ := exec.Command("ldconfig", "-p").Output(); !strings.Contains(string(out), "libcuda.so.1 ") {
		got := run(t, dir, nil, filepath.Join(dir, "prog"))
		if want := "cuInit=500 cuDeviceGetCount=500 n=-1 cuMemAlloc_v2=500\n"; got != want {
			t.Errorf("without a driver: %q, want %q", got, want)
		}
	}

	// A driver: calls reach it; a function it lacks returns 500.
	fake := filepath.Join(dir, "driver")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "cc", "-shared", "-fPIC", "-o", filepath.Join(fake, "libcuda.so.1"), "fake.c")
	got := run(t, dir, []string{"LD_LIBRARY_PATH=" + fake}, filepath.Join(dir, "prog"))
	if want := "cuInit=7 cuDeviceGetCount=0 n=3 cuMemAlloc_v2=500\n"; got != want {
		t.Errorf("with a fake driver: %q, want %q", got, want)
	}
}
