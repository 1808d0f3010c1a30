package cuda

import (
	"os"
	"testing"

	"simclr/internal/backend/cuda/internal/kernellist"
)

// TestKernelListMatchesSources keeps the one kernel list
// (kernels/kernel_names.h), the kernels' definitions and the generated Go
// copy in step. It builds without tags, so plain `go test ./...` runs it.
func TestKernelListMatchesSources(t *testing.T) {
	const dir = "../../../kernels"
	names, err := kernellist.Names(dir)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := kernellist.Defined(dir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, n := range names {
		listed[n] = true
		if _, ok := defs[n]; !ok {
			t.Errorf("kernels/kernel_names.h lists %s, but no kernels/*.cu defines a __global__ %s", n, n)
		}
	}
	for n, f := range defs {
		if !listed[n] {
			t.Errorf("kernels/%s defines __global__ %s, which kernels/kernel_names.h does not list: add SIMCLR_KERNEL(%s)", f, n, n)
		}
	}
	if len(kernelNames) != len(names) {
		t.Fatalf("kernel_names_gen.go has %d kernels, kernels/kernel_names.h %d: run go generate ./internal/backend/cuda", len(kernelNames), len(names))
	}
	for i := range names {
		if kernelNames[i] != names[i] {
			t.Fatalf("kernel_names_gen.go[%d] = %s, kernels/kernel_names.h has %s: run go generate ./internal/backend/cuda", i, kernelNames[i], names[i])
		}
	}
	if _, err := os.Stat("kernel_names_gen.go"); err != nil {
		t.Fatal(err)
	}
}
