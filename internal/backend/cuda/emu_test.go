//go:build cudaemu

package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unsafe"
)

// TestKernelHashCurrent fails when kernels/*.cu changed after
// kernels_hash.h was written: the Go build cache only sees files in this
// directory, so without a new hash the emulator would run stale kernels.
func TestKernelHashCurrent(t *testing.T) {
	var names []string
	for _, pat := range []string{"*.cu", "*.cuh", "*.h"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "..", "kernels", pat))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	sort.Slice(names, func(i, j int) bool { return filepath.Base(names[i]) < filepath.Base(names[j]) })
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	if got, want := emuKernelsHash(), hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("emulator built from kernels with SHA-256 %s, kernels/ now hashes to %s: run kernels/build.sh emu-hash", got, want)
	}
}

// TestKernelRegistry checks that the emulator's registry and the Go list
// of kernels agree one to one.
func TestKernelRegistry(t *testing.T) {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	emu := d.(*emuDriver)
	if len(emu.ids) != len(kernelNames) {
		t.Errorf("emulator registers %d kernels, the backend uses %d", len(emu.ids), len(kernelNames))
	}
	for _, k := range kernelNames {
		if !d.hasKernel(k) {
			t.Errorf("kernel %s is not registered in emu_kernels.cc", k)
		}
	}
	if _, err := openDriver(1); err == nil {
		t.Error("openDriver(1): want an error, the emulator has one device")
	}
}

func TestEmuLaunchErrors(t *testing.T) {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := d.alloc(64)
	if err != nil {
		t.Fatal(err)
	}
	defer d.free(buf)
	cases := []struct {
		name, kernel string
		grid, block  dim3
		args         args
		want         string
	}{
		{"unknown kernel", "nope", dim3{1, 1, 1}, dim3{32, 1, 1}, nil, "no kernel named nope"},
		{"argument count", "fill_f32", dim3{1, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf), "takes 3 arguments, got 1"},
		{"block too large", "fill_f32", dim3{1, 1, 1}, dim3{2048, 1, 1}, args{}.raw(buf).f(1).i(16), "invalid launch"},
		{"empty grid", "fill_f32", dim3{0, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf).f(1).i(16), "invalid launch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := d.launch(c.kernel, c.grid, c.block, c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("launch error %v, want one containing %q", err, c.want)
			}
		})
	}
	if err := d.launch("fill_f32", dim3{1, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf).f(2.5).i(16)); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 16)
	if err := d.dtoh(ptrOf(out), buf, 64); err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != 2.5 {
			t.Fatalf("fill_f32 wrote %g at %d, want 2.5", v, i)
		}
	}
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {1<<20 - 1, 1 << 20}, {1 << 20, 1 << 20},
		{1<<20 + 1, 1<<20 + 64<<10}, {64 << 20, 64 << 20}, {64<<20 + 1, 66 << 20},
	} {
		if got := sizeClass(c.in); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestPoolReuse(t *testing.T) {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	p := newMemPool(d)
	a, err := p.get(1000)
	if err != nil {
		t.Fatal(err)
	}
	blockA := p.live[a].block
	p.put(a)
	b, err := p.get(900) // same 1024-byte class: the freed block comes back
	if err != nil {
		t.Fatal(err)
	}
	if got := p.live[b].block; got != blockA {
		t.Errorf("pool handed out block %#x after freeing block %#x of the same class", got, blockA)
	}
	// The emulator places the 900 bytes flush against the block's end.
	if b != blockA+1024-900 {
		t.Errorf("pool handed out %#x, want the last 900 bytes of block %#x", b, blockA)
	}
	c, err := p.get(5000)
	if err != nil {
		t.Fatal(err)
	}
	inUse, cached, peak := p.stats()
	if inUse != 1024+5120 || cached != 0 || peak != 1024+5120 {
		t.Errorf("stats = %d in use, %d cached, %d peak; want 6144, 0, 6144", inUse, cached, peak)
	}
	p.put(b)
	p.put(c)
	if inUse, cached, _ := p.stats(); inUse != 0 || cached != 6144 {
		t.Errorf("after put: %d in use, %d cached; want 0 and 6144", inUse, cached)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
}

func ptrOf(v []float32) unsafe.Pointer { return unsafe.Pointer(&v[0]) }

// TestEmuEventErrors checks the emulator's events fail like CUDA's for an
// event never recorded or unknown.
func TestEmuEventErrors(t *testing.T) {
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	a, err := d.newEvent()
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.newEvent()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.elapsed(a, c); err == nil || !strings.Contains(err.Error(), "never recorded") {
		t.Errorf("elapsed of unrecorded events: %v, want a 'never recorded' error", err)
	}
	if err := d.record(c + 1); err == nil || !strings.Contains(err.Error(), "unknown timing event") {
		t.Errorf("record of an unknown event: %v, want an 'unknown timing event' error", err)
	}
	for _, ev := range []event{a, c} {
		if err := d.record(ev); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := d.elapsed(a, c)
	if err != nil || ms < 0 || math.IsInf(ms, 0) || math.IsNaN(ms) {
		t.Errorf("elapsed = %v, %v; want a finite time >= 0", ms, err)
	}
}
