//go:build cudaemu

package cuda

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// The emulator's sanitizer checks, one deliberately broken kernel of
// emu_faults.h per fault class: each launch must fail with a message that
// names the kernel, the block, the thread where there is one, and the fault.

// schedOrders are the CUDAEMU_ORDER values every fault must be found in.
var schedOrders = []string{"index", "reverse", "random:7"}

func faultDriver(t *testing.T) *emuDriver {
	t.Helper()
	d, err := openDriver(0)
	if err != nil {
		t.Fatal(err)
	}
	return d.(*emuDriver)
}

// devBuf allocates n float32 (exactly 4n bytes) and frees it after the test.
func devBuf(t *testing.T, d *emuDriver, n int) uintptr {
	t.Helper()
	p, err := d.alloc(int64(4 * n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.free(p); err != nil {
			t.Error(err)
		}
	})
	return p
}

func readFloats(t *testing.T, d *emuDriver, p uintptr, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := d.dtoh(unsafe.Pointer(&out[0]), p, int64(4*n)); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("launch succeeded, want an error containing %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q\ndoes not contain %q", err, w)
		}
	}
}

func eachOrder(t *testing.T, f func(t *testing.T, order string)) {
	for _, o := range schedOrders {
		t.Run(o, func(t *testing.T) {
			t.Setenv("CUDAEMU_ORDER", o)
			f(t, o)
		})
	}
}

func TestEmuFaultMissingSyncthreads(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 64)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("fault_missing_syncthreads", dim3{1, 1, 1}, dim3{64, 1, 1}, 0, args{}.raw(out).i(0))
		wantErr(t, err, "kernel fault_missing_syncthreads: block (0,0,0) thread (", "shared-memory race on s[",
			"with no __syncthreads()/__syncwarp() in between")
		// The same kernel with its barrier is clean and correct.
		if err := d.launchFault("fault_missing_syncthreads", dim3{1, 1, 1}, dim3{64, 1, 1}, 0, args{}.raw(out).i(1)); err != nil {
			t.Fatal(err)
		}
		for i, v := range readFloats(t, d, out, 64) {
			if want := float32(2 * ((i + 1) % 64)); v != want {
				t.Fatalf("out[%d] = %g, want %g", i, v, want)
			}
		}
	})
}

func TestEmuFaultMissingSyncwarp(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 32)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("fault_missing_syncwarp", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out).i(0))
		// In index order lane 0 reads lane 1's element before lane 1 ran
		// (uninitialised); otherwise the read of an element written by
		// another lane is a race. Both name the element.
		if err == nil || !(strings.Contains(err.Error(), "shared-memory race on lanes[") ||
			strings.Contains(err.Error(), "uninitialised shared-memory read of lanes[")) {
			t.Fatalf("error %v, want a race or uninitialised read on lanes[...]", err)
		}
		if err := d.launchFault("fault_missing_syncwarp", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out).i(1)); err != nil {
			t.Fatal(err)
		}
		for i, v := range readFloats(t, d, out, 32) {
			if want := float32(i ^ 1); v != want {
				t.Fatalf("out[%d] = %g, want %g", i, v, want)
			}
		}
	})
}

func TestEmuFaultWriteRace(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 64)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("fault_write_race", dim3{1, 1, 1}, dim3{64, 1, 1}, 0, args{}.raw(out))
		wantErr(t, err, "kernel fault_write_race: block (0,0,0) thread (", "shared-memory race on total[0]: this thread writes it and thread (", ") wrote it")
	})
}

func TestEmuFaultUninitShared(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 32)
	eachOrder(t, func(t *testing.T, order string) {
		err := d.launchFault("fault_uninit_shared", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out))
		wantErr(t, err, "kernel fault_uninit_shared: block (0,0,0) thread (", "uninitialised shared-memory read of tile[")
		switch order {
		case "index":
			wantErr(t, err, "thread (16,0,0): uninitialised shared-memory read of tile[2][0]")
		case "reverse":
			wantErr(t, err, "thread (31,0,0): uninitialised shared-memory read of tile[3][7]")
		}
	})
}

func TestEmuFaultOutOfBounds(t *testing.T) {
	d := faultDriver(t)
	in := devBuf(t, d, 16)
	out := devBuf(t, d, 16)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("fault_oob_read", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(in).raw(out).i(16))
		wantErr(t, err, "kernel fault_oob_read: block (0,0,0) thread (16,0,0): out-of-bounds global-memory read",
			"byte offset 64 of the 64-byte allocation", "(0 bytes past its end)")
		err = d.launchFault("fault_oob_write", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out).i(16))
		wantErr(t, err, "kernel fault_oob_write: block (0,0,0) thread (16,0,0): out-of-bounds global-memory write",
			"byte offset 64 of the 64-byte allocation")
	})
	// The process survives and the emulator keeps working.
	if err := d.launchFault("fault_oob_write", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out).i(15)); err != nil {
		t.Fatal(err)
	}
}

// TestEmuFaultBeforeStart: in front of an allocation's first live byte the
// rest of its page holds a canary, checked after every launch, and the
// whole pages before that are PROT_NONE, so a write there faults with the
// thread named. 1 MiB + 1000 bytes take the pool's class 1 MiB + 64 KiB:
// 15 whole pages, then 3096 canary bytes in front of the live ones.
func TestEmuFaultBeforeStart(t *testing.T) {
	d := faultDriver(t)
	p := newMemPool(d)
	defer p.close()
	const n = 1<<20 + 1000
	buf, err := p.get(n)
	if err != nil {
		t.Fatal(err)
	}
	err = d.launch("fill_f32", dim3{1, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf-4).f(1).i(1))
	wantErr(t, err, "kernel fill_f32 wrote before the start of the 1049576-byte allocation", "(byte offset -1)")
	// The canary is restored when the block is placed again.
	p.put(buf)
	if buf, err = p.get(n); err != nil {
		t.Fatal(err)
	}
	err = d.launch("fill_f32", dim3{1, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf-4000).f(1).i(1))
	wantErr(t, err, "kernel fill_f32: block (0,0,0) thread (0,0,0): out-of-bounds global-memory write",
		"4000 bytes before the start of the 1049576-byte allocation")
	// A read there faults too, and a correct launch still runs.
	err = d.launchFault("fault_oob_read", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(buf-4000).raw(buf).i(0))
	wantErr(t, err, "out-of-bounds global-memory read", "4000 bytes before the start")
	if err := d.launch("fill_f32", dim3{1, 1, 1}, dim3{256, 1, 1}, args{}.raw(buf).f(1).i(n/4)); err != nil {
		t.Fatal(err)
	}
}

// TestEmuFaultPoolSlack: a block from the pool is rounded up to its size
// class, but only the requested bytes are in bounds.
func TestEmuFaultPoolSlack(t *testing.T) {
	t.Setenv("CUDAEMU_ORDER", "index") // the first thread to fault is the first past the end
	d := faultDriver(t)
	p := newMemPool(d)
	defer p.close()
	buf, err := p.get(1000) // class 1024
	if err != nil {
		t.Fatal(err)
	}
	err = d.launch("fill_f32", dim3{1, 1, 1}, dim3{256, 1, 1}, args{}.raw(buf).f(1).i(256))
	wantErr(t, err, "kernel fill_f32: block (0,0,0) thread (250,0,0): out-of-bounds global-memory write",
		"byte offset 1000 of the 1000-byte allocation")
	if err := d.launch("fill_f32", dim3{1, 1, 1}, dim3{256, 1, 1}, args{}.raw(buf).f(1).i(250)); err != nil {
		t.Fatal(err)
	}
	// Fresh pool memory is poisoned (NaN), not zero.
	p.put(buf)
	buf, err = p.get(1024)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range readFloats(t, d, buf, 256) {
		if math.Float32bits(v) != 0xFFFA5A5A {
			t.Fatalf("fresh device word %d = %#x, want the poison 0xfffa5a5a", i, math.Float32bits(v))
		}
	}
	// Use after free: the block is inaccessible while the pool caches it.
	p.put(buf)
	err = d.launch("fill_f32", dim3{1, 1, 1}, dim3{32, 1, 1}, args{}.raw(buf).f(1).i(32))
	wantErr(t, err, "kernel fill_f32: block (0,0,0) thread (0,0,0): global-memory write at", "freed 1024-byte block (use after free)")
	// Host copies are bounds-checked too.
	buf, err = p.get(64)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, 32)
	wantErr(t, d.htod(buf, unsafe.Pointer(&src[0]), 128), "host-to-device copy of 128 bytes", "outside the 64-byte allocation")
}

func TestEmuFaultShuffleMask(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 32)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("fault_shfl_self_not_in_mask", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out))
		wantErr(t, err, "kernel fault_shfl_self_not_in_mask: block (0,0,0) thread (",
			"__shfl_sync with mask 0x0000ffff, which does not include the caller's own lane")

		if err := d.launchFault("fault_shfl_partial_mask", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out)); err != nil {
			t.Fatal(err)
		}
		got := readFloats(t, d, out, 16)
		for lane, v := range got {
			if lane < 8 && v != float32(lane+8) {
				t.Errorf("partial mask: lane %d read %g, want %d", lane, v, lane+8)
			}
			if lane >= 8 && math.Float32bits(v) != 0xFFFB0B0B {
				t.Errorf("partial mask: lane %d read lane %d outside the mask and got %#x, want the poison 0xfffb0b0b", lane, lane+8, math.Float32bits(v))
			}
		}

		if err := d.launchFault("fault_shfl_exited_lane", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out)); err != nil {
			t.Fatal(err)
		}
		for lane, v := range readFloats(t, d, out, 16) {
			if math.Float32bits(v) != 0xFFFB0B0B {
				t.Errorf("exited lane: lane %d read exited lane %d and got %#x, want the poison 0xfffb0b0b", lane, lane+16, math.Float32bits(v))
			}
		}

		err = d.launchFault("fault_divergent_warp_op", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out))
		wantErr(t, err, "kernel fault_divergent_warp_op: block (0,0,0): divergent warp collective: thread (",
			"waits in __syncwarp with mask 0xffffffff", "waits in a shuffle/vote with mask 0xffffffff")

		err = d.launchFault("fault_divergent_syncthreads", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out))
		wantErr(t, err, "kernel fault_divergent_syncthreads: block (0,0,0) deadlocked")
	})
}

func TestEmuFaultLaunchLimits(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 1024)
	a := args{}.raw(out)
	for _, c := range []struct {
		name        string
		grid, block dim3
	}{
		{"1025 threads", dim3{1, 1, 1}, dim3{1025, 1, 1}},
		{"block z 65", dim3{1, 1, 1}, dim3{1, 1, 65}},
		{"1024x2 threads", dim3{1, 1, 1}, dim3{512, 4, 1}},
		{"grid y 65536", dim3{1, 65536, 1}, dim3{32, 1, 1}},
		{"grid z 65536", dim3{1, 1, 65536}, dim3{32, 1, 1}},
		{"grid x 2^31", dim3{1 << 31, 1, 1}, dim3{32, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, d.launchFault("fault_bounded_64", c.grid, c.block, 0, a), "kernel fault_bounded_64: invalid launch grid")
		})
	}
	wantErr(t, d.launchFault("fault_bounded_64", dim3{1, 1, 1}, dim3{128, 1, 1}, 0, a),
		"kernel fault_bounded_64: launch of 128 threads per block exceeds its __launch_bounds__(64)")
	if err := d.launchFault("fault_bounded_64", dim3{2, 1, 1}, dim3{64, 1, 1}, 0, a); err != nil {
		t.Fatal(err)
	}
	// The real kernels' bounds are read the same way (GT_THREADS = 256).
	wantErr(t, d.launch("conv2d_fwd", dim3{1, 1, 1}, dim3{512, 1, 1}, make(args, 13)),
		"kernel conv2d_fwd: launch of 512 threads per block exceeds its __launch_bounds__(256)")

	wantErr(t, d.launchFault("fault_static_shared_too_big", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, a),
		"kernel fault_static_shared_too_big: block (0,0,0) thread (", "static shared memory of the block reaches 53248 bytes with big, above the 48 KB limit")
}

func TestEmuDynamicShared(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 256)
	const n = 25600 // 100 KB of floats
	wantErr(t, d.launchFault("fault_dynamic_shared", dim3{1, 1, 1}, dim3{256, 1, 1}, 4*n, args{}.raw(out).i(n)),
		"kernel fault_dynamic_shared: 102400 bytes of dynamic shared memory requested, above the kernel's limit of 49152; raise it with setMaxDynamicShared")
	wantErr(t, d.setFaultMaxDynamicShared("fault_dynamic_shared", 300<<10), "outside [0, 232448]")
	if err := d.setFaultMaxDynamicShared("fault_dynamic_shared", 4*n); err != nil {
		t.Fatal(err)
	}
	eachOrder(t, func(t *testing.T, _ string) {
		if err := d.launchFault("fault_dynamic_shared", dim3{1, 1, 1}, dim3{256, 1, 1}, 4*n, args{}.raw(out).i(n)); err != nil {
			t.Fatal(err)
		}
		for tid, v := range readFloats(t, d, out, 256) {
			var want float32
			for i := (tid + 1) % 256; i < n; i += 256 {
				want += float32(i)
			}
			if v != want {
				t.Fatalf("out[%d] = %g, want %g", tid, v, want)
			}
		}
		// Reading past the launch's dynamic shared memory is an error.
		wantErr(t, d.launchFault("fault_dynamic_shared", dim3{1, 1, 1}, dim3{256, 1, 1}, 4*n-4, args{}.raw(out).i(n)),
			"shared array buf: dynamic shared index 25599 out of bounds [0,25599)")
	})
	if err := d.setMaxDynamicShared("conv2d_fwd", 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := d.setMaxDynamicShared("conv2d_fwd", 48<<10); err != nil {
		t.Fatal(err)
	}
}

// TestEmuOrder: a kernel whose result depends on the order threads run in
// gives different results under different CUDAEMU_ORDER values, so running
// the parity suite in two orders catches it.
func TestEmuOrder(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 1)
	last := map[string]int32{}
	for _, o := range []string{"index", "reverse", "random:1", "random:2"} {
		t.Setenv("CUDAEMU_ORDER", o)
		if err := d.launchFault("fault_order_dependent", dim3{1, 1, 1}, dim3{64, 1, 1}, 0, args{}.raw(out)); err != nil {
			t.Fatal(err)
		}
		var v int32
		if err := d.dtoh(unsafe.Pointer(&v), out, 4); err != nil {
			t.Fatal(err)
		}
		last[o] = v
	}
	if last["index"] != 63 || last["reverse"] != 0 {
		t.Errorf("last writer: index order %d, reverse %d; want 63 and 0", last["index"], last["reverse"])
	}
	if last["random:1"] == last["random:2"] && last["random:1"] == 63 {
		t.Errorf("random orders 1 and 2 both ended with thread 63, as index order")
	}
	t.Setenv("CUDAEMU_ORDER", "sideways")
	wantErr(t, d.launchFault("fault_order_dependent", dim3{1, 1, 1}, dim3{64, 1, 1}, 0, args{}.raw(out)),
		"CUDAEMU_ORDER=sideways: want index, reverse or random:SEED")
}

// TestEmuFPContract checks that the build does what it claims: a*b+c is
// fused only in the SIMCLR_EMU_FP_CONTRACT build (make test-cudaemu-fma),
// and __fadd_rn(__fmul_rn(a, b), c) never is.
func TestEmuFPContract(t *testing.T) {
	d := faultDriver(t)
	in := devBuf(t, d, 3)
	out := devBuf(t, d, 2)
	x := float32(1 + 1.0/4096) // x*x = 1 + 2^-11 + 2^-24: the 2^-24 is lost when rounded
	vals := []float32{x, x, -(1 + 1.0/2048)}
	if err := d.htod(in, unsafe.Pointer(&vals[0]), 12); err != nil {
		t.Fatal(err)
	}
	if err := d.launchFault("emu_fma_probe", dim3{1, 1, 1}, dim3{1, 1, 1}, 0, args{}.raw(in).raw(out)); err != nil {
		t.Fatal(err)
	}
	got := readFloats(t, d, out, 2)
	fused := float32(math.FMA(float64(x), float64(x), float64(vals[2])))
	separate := float32(x*x) + vals[2] // float32(): Go must round the product
	if fused == separate {
		t.Fatalf("probe inputs do not tell fused from separate rounding (%g)", fused)
	}
	want := separate
	if emuFPContract() {
		want = fused
	}
	if got[0] != want {
		t.Errorf("a*b+c = %g with fp-contract build %v, want %g", got[0], emuFPContract(), want)
	}
	if got[1] != separate {
		t.Errorf("__fadd_rn(__fmul_rn(a, b), c) = %g, want the unfused %g", got[1], separate)
	}
}

// TestEmuBlockReduceHelpers runs kernels/common.cuh's block_sum_f64 and
// block_max_f64 each twice in a row in one kernel (emu_block_reduce,
// emu_faults.h), as a kernel may: the leading barrier of each helper
// (against an earlier call still reading part[0]) matters only then.
func TestEmuBlockReduceHelpers(t *testing.T) {
	d := faultDriver(t)
	const rounds, nt = 3, 256
	in := make([]float64, rounds*nt)
	for i := range in {
		in[i] = float64((i*37)%101) - 50
	}
	inDev, err := d.alloc(int64(8 * len(in)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.free(inDev)
	outDev, err := d.alloc(8 * 4 * rounds)
	if err != nil {
		t.Fatal(err)
	}
	defer d.free(outDev)
	if err := d.htod(inDev, unsafe.Pointer(&in[0]), int64(8*len(in))); err != nil {
		t.Fatal(err)
	}
	eachOrder(t, func(t *testing.T, _ string) {
		if err := d.launchFault("emu_block_reduce", dim3{1, 1, 1}, dim3{nt, 1, 1}, 0, args{}.raw(inDev).raw(outDev).i(rounds)); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, 4*rounds)
		if err := d.dtoh(unsafe.Pointer(&out[0]), outDev, int64(8*len(out))); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < rounds; r++ {
			sum, mx, mn := 0.0, math.Inf(-1), math.Inf(1)
			for _, v := range in[r*nt : (r+1)*nt] {
				sum += v
				mx = math.Max(mx, v)
				mn = math.Min(mn, v)
			}
			want := []float64{sum, -sum, mx, -mn}
			for i, w := range want {
				if out[4*r+i] != w {
					t.Errorf("round %d: results %v, want %v", r, out[4*r:4*r+4], want)
					break
				}
			}
		}
	})
}

// TestEmuFaultHandlerChains: after the emulator installed its SIGSEGV
// handler (at the first launch) and turned a kernel's fault into an error,
// Go's own faults still reach Go's handler: a nil dereference is a
// recoverable run-time panic, not a crash.
func TestEmuFaultHandlerChains(t *testing.T) {
	d := faultDriver(t)
	out := devBuf(t, d, 16)
	wantErr(t, d.launchFault("fault_oob_write", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(out).i(16)), "out-of-bounds global-memory write")
	var p *int
	func() {
		defer func() {
			r := recover()
			if err, ok := r.(error); !ok || !strings.Contains(err.Error(), "nil pointer dereference") {
				t.Errorf("nil dereference after an emulator fault: recovered %v, want Go's nil pointer run-time error", r)
			}
		}()
		_ = *p
	}()
}

// TestEmuLaunchBoundsRead: every kernel that kernels/*.cu declares with
// __launch_bounds__ has a bound in the emulator's registry (the section
// trick of cuda_emu.h only knows multiples of 32 up to 1024; anything else
// would be silently unbounded), and kernels without one have none.
func TestEmuLaunchBoundsRead(t *testing.T) {
	d := faultDriver(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "kernels", "*.cu"))
	if err != nil || len(files) == 0 {
		t.Fatalf("kernel sources: %v (%d files)", err, len(files))
	}
	bounded := regexp.MustCompile(`__global__\s+void\s+__launch_bounds__\(([^)]*)\)\s*([A-Za-z0-9_]+)\s*\(`)
	want := map[string]bool{}
	value := map[string]int{} // the bound, where the source spells it as GT_THREADS or a number
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range bounded.FindAllStringSubmatch(string(src), -1) {
			want[m[2]] = true
			if arg := strings.TrimSpace(m[1]); arg == "GT_THREADS" {
				value[m[2]] = gemmThreads
			} else if n, err := strconv.Atoi(arg); err == nil {
				value[m[2]] = n
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no __launch_bounds__ kernels found in kernels/*.cu")
	}
	for _, k := range kernelNames {
		b := d.launchBound(k)
		switch {
		case want[k] && b <= 0:
			t.Errorf("kernel %s has __launch_bounds__ in its source, but the emulator read no bound: use a multiple of 32 up to 1024", k)
		case !want[k] && b != 0:
			t.Errorf("kernel %s has no __launch_bounds__, but the emulator read %d", k, b)
		case value[k] != 0 && b != value[k]:
			t.Errorf("kernel %s: emulator read __launch_bounds__(%d), the source says %d", k, b, value[k])
		}
	}
}

// gemmThreads is kernels/gemm_tile.cuh's GT_THREADS.
const gemmThreads = 256
