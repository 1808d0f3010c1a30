//go:build cuda || cudaemu

package cuda

import (
	"testing"
	"unsafe"
)

// TestDynamicSharedAttribute checks the driver's dynamic shared memory
// path on both drivers (on a GPU through cuFuncSetAttribute): raising a
// kernel's limit to 64 KB works, 300 KB (above every architecture's
// opt-in maximum) fails, and launchShared runs a kernel.
func TestDynamicSharedAttribute(t *testing.T) {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := d.setMaxDynamicShared("conv2d_fwd", 64<<10); err != nil {
		t.Fatalf("raise conv2d_fwd's dynamic shared limit to 64 KB: %v", err)
	}
	if err := d.setMaxDynamicShared("conv2d_fwd", 300<<10); err == nil {
		t.Error("dynamic shared limit of 300 KB: want an error")
	}
	if err := d.setMaxDynamicShared("no_such_kernel", 1024); err == nil {
		t.Error("setMaxDynamicShared of an unknown kernel: want an error")
	}
	buf, err := d.alloc(4 * 64)
	if err != nil {
		t.Fatal(err)
	}
	defer d.free(buf)
	if err := d.launchShared("fill_f32", dim3{1, 1, 1}, dim3{64, 1, 1}, 1024, args{}.raw(buf).f(3).i(64)); err != nil {
		t.Fatal(err)
	}
	if err := d.sync(); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 64)
	if err := d.dtoh(unsafe.Pointer(&out[0]), buf, 4*64); err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != 3 {
			t.Fatalf("fill_f32 via launchShared wrote %g at %d, want 3", v, i)
		}
	}
}
