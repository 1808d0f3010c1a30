//go:build cudaemu

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"simclr/internal/backend"
)

// The emulated tensor-core primitives of kernels/mma.cuh, through the test
// kernels of emu_tc.h: mma.sync fragments with one-hot and distinct-value
// operands (a swapped fragment index moves or loses a value), ldmatrix
// against the PTX ISA's statement of which lane receives what, cp.async's
// asynchrony (a read before wait_group is reported), zero-fill and bounds,
// and the rounding of the conversions (ties).

// upload copies a slice into a new exact-size device buffer.
func upload[T any](t *testing.T, d *emuDriver, v []T) uintptr {
	t.Helper()
	var z T
	n := int64(len(v)) * int64(unsafe.Sizeof(z))
	p, err := d.alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.free(p) })
	if err := d.htod(p, unsafe.Pointer(&v[0]), n); err != nil {
		t.Fatal(err)
	}
	return p
}

func download[T any](t *testing.T, d *emuDriver, p uintptr, n int) []T {
	t.Helper()
	out := make([]T, n)
	var z T
	if err := d.dtoh(unsafe.Pointer(&out[0]), p, int64(n)*int64(unsafe.Sizeof(z))); err != nil {
		t.Fatal(err)
	}
	return out
}

// mmaRun runs one bf16 (kd 16) or tf32 (kd 8) mma on A [16][kd], B [kd][8],
// C [16][8] and returns D.
func mmaRun(t *testing.T, d *emuDriver, kd int, a, b, c []float32) []float32 {
	t.Helper()
	pa, pb, pc := upload(t, d, a), upload(t, d, b), upload(t, d, c)
	pd := devBuf(t, d, 128)
	var err error
	if kd == 16 {
		err = d.launchFault("tc_mma_bf16", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(pa).raw(pb).raw(pc).raw(pd).i(-1))
	} else {
		err = d.launchFault("tc_mma_tf32", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(pa).raw(pb).raw(pc).raw(pd))
	}
	if err != nil {
		t.Fatal(err)
	}
	return readFloats(t, d, pd, 128)
}

// distinct returns rows x cols values v[i] = base + i + 1 (exact in bf16
// for up to 256 values from base 0).
func distinct(rows, cols int, base float32) []float32 {
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = base + float32(i+1)
	}
	return v
}

func TestEmuMmaOneHot(t *testing.T) {
	d := faultDriver(t)
	for _, kd := range []int{16, 8} {
		name := map[int]string{16: "m16n8k16.bf16", 8: "m16n8k8.tf32"}[kd]
		t.Run(name, func(t *testing.T) {
			c := make([]float32, 128)
			for i := range c {
				c[i] = 1000 * float32(i+1) // distinct accumulators (exact in fp32)
			}
			// One-hot A at (r, k), distinct B: row r of D is row k of B
			// plus C; every other row is C.
			bDistinct := distinct(kd, 8, 0)
			for r := 0; r < 16; r++ {
				for k := 0; k < kd; k++ {
					a := make([]float32, 16*kd)
					a[r*kd+k] = 1
					got := mmaRun(t, d, kd, a, bDistinct, c)
					for m := 0; m < 16; m++ {
						for n := 0; n < 8; n++ {
							want := c[m*8+n]
							if m == r {
								want += bDistinct[k*8+n]
							}
							if got[m*8+n] != want {
								t.Fatalf("A one-hot at (%d,%d): D[%d][%d] = %g, want %g", r, k, m, n, got[m*8+n], want)
							}
						}
					}
				}
			}
			// Distinct A, one-hot B at (k, n): column n of D is column k
			// of A plus C.
			aDistinct := distinct(16, kd, 0)
			for k := 0; k < kd; k++ {
				for n := 0; n < 8; n++ {
					b := make([]float32, kd*8)
					b[k*8+n] = 1
					got := mmaRun(t, d, kd, aDistinct, b, c)
					for m := 0; m < 16; m++ {
						for j := 0; j < 8; j++ {
							want := c[m*8+j]
							if j == n {
								want += aDistinct[m*kd+k]
							}
							if got[m*8+j] != want {
								t.Fatalf("B one-hot at (%d,%d): D[%d][%d] = %g, want %g", k, n, m, j, got[m*8+j], want)
							}
						}
					}
				}
			}
		})
	}
}

// TestEmuMmaRandom: random operands against a float64 product of the
// rounded operands (fp32 accumulation of exact products: within k ulps).
func TestEmuMmaRandom(t *testing.T) {
	d := faultDriver(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kd := range []int{16, 8} {
		prec := map[int]backend.Precision{16: backend.BF16, 8: backend.TF32}[kd]
		a, b, c := make([]float32, 16*kd), make([]float32, kd*8), make([]float32, 128)
		for i := range a {
			a[i] = rng.Float32()*2 - 1
		}
		for i := range b {
			b[i] = rng.Float32()*2 - 1
		}
		for i := range c {
			c[i] = rng.Float32()*2 - 1
		}
		got := mmaRun(t, d, kd, a, b, c)
		for m := 0; m < 16; m++ {
			for n := 0; n < 8; n++ {
				want := float64(c[m*8+n])
				for k := 0; k < kd; k++ {
					want += float64(prec.Round(a[m*kd+k])) * float64(prec.Round(b[k*8+n]))
				}
				if diff := math.Abs(float64(got[m*8+n]) - want); diff > float64(kd)*6e-8*4 {
					t.Errorf("%s: D[%d][%d] = %g, want %g (diff %g)", prec, m, n, got[m*8+n], want, diff)
				}
			}
		}
	}
}

func TestEmuMmaNeedsWholeWarp(t *testing.T) {
	d := faultDriver(t)
	z := make([]float32, 256)
	pa, pb, pc := upload(t, d, z), upload(t, d, z[:128]), upload(t, d, z[:128])
	pd := devBuf(t, d, 128)
	eachOrder(t, func(t *testing.T, _ string) {
		err := d.launchFault("tc_mma_bf16", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(pa).raw(pb).raw(pc).raw(pd).i(5))
		wantErr(t, err, "kernel tc_mma_bf16", "mma.sync.m16n8k16.bf16 is a .aligned warp collective, but lane 5 of this warp has exited")
	})
}

// TestEmuLdmatrix checks every shape against the PTX statement: lanes
// 8i..8i+7 address the rows of matrix i; lane l receives row l/4, columns
// 2(l%4), 2(l%4)+1 of matrix i (with .trans: column l/4 of rows 2(l%4) and
// 2(l%4)+1).
func TestEmuLdmatrix(t *testing.T) {
	d := faultDriver(t)
	in := make([]uint16, 256)
	for i := range in {
		in[i] = uint16(i + 1)
	}
	rowOf := make([]int32, 32)
	for l := range rowOf {
		rowOf[l] = int32((7*l + 3) % 32) // lanes address rows out of order
	}
	pin, prow := upload(t, d, in), upload(t, d, rowOf)
	pout := devBuf(t, d, 128)
	for mode := 0; mode < 6; mode++ {
		num, trans := []int{1, 2, 4}[mode%3], mode >= 3
		t.Run(fmt.Sprintf("x%d_trans%v", num, trans), func(t *testing.T) {
			if err := d.launchFault("tc_ldmatrix", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(pin).raw(prow).raw(pout).i(mode)); err != nil {
				t.Fatal(err)
			}
			got := download[uint32](t, d, pout, 128)
			for l := 0; l < 32; l++ {
				for i := 0; i < 4; i++ {
					var want uint32
					if i < num {
						if !trans {
							row := int(rowOf[8*i+l/4])
							want = uint32(in[row*8+2*(l%4)]) | uint32(in[row*8+2*(l%4)+1])<<16
						} else {
							lo, hi := int(rowOf[8*i+2*(l%4)]), int(rowOf[8*i+2*(l%4)+1])
							want = uint32(in[lo*8+l/4]) | uint32(in[hi*8+l/4])<<16
						}
					}
					if got[4*l+i] != want {
						t.Fatalf("lane %d register %d = %#08x, want %#08x", l, i, got[4*l+i], want)
					}
				}
			}
		})
	}
}

func bf16Bits(x float32) uint16 { return uint16(math.Float32bits(backend.RoundBF16(x)) >> 16) }

// TestEmuLdmatrixFeedsMma: cp.async -> ldmatrix.x4 (A) / .x2.trans (B) ->
// mma gives A B for one-hot A and for random operands.
func TestEmuLdmatrixFeedsMma(t *testing.T) {
	d := faultDriver(t)
	if err := d.setFaultMaxDynamicShared("tc_ldsm_mma", 768); err != nil {
		t.Fatal(err)
	}
	run := func(a, b []float32) []float32 {
		ab, bb := make([]uint16, 256), make([]uint16, 128)
		for i := range a {
			ab[i] = bf16Bits(a[i])
		}
		for i := range b {
			bb[i] = bf16Bits(b[i])
		}
		pa, pb := upload(t, d, ab), upload(t, d, bb)
		pd := devBuf(t, d, 128)
		if err := d.launchFault("tc_ldsm_mma", dim3{1, 1, 1}, dim3{32, 1, 1}, 768, args{}.raw(pa).raw(pb).raw(pd)); err != nil {
			t.Fatal(err)
		}
		return readFloats(t, d, pd, 128)
	}
	check := func(name string, a, b []float32, exact bool) {
		got := run(a, b)
		for m := 0; m < 16; m++ {
			for n := 0; n < 8; n++ {
				want := 0.0
				for k := 0; k < 16; k++ {
					want += float64(backend.RoundBF16(a[m*16+k])) * float64(backend.RoundBF16(b[k*8+n]))
				}
				diff := math.Abs(float64(got[m*8+n]) - want)
				if (exact && diff != 0) || diff > 16*6e-8*4 {
					t.Fatalf("%s: D[%d][%d] = %g, want %g", name, m, n, got[m*8+n], want)
				}
			}
		}
	}
	bd := distinct(16, 8, 0)
	for _, pos := range [][2]int{{0, 0}, {3, 5}, {7, 8}, {8, 1}, {12, 13}, {15, 15}, {9, 7}, {4, 10}} {
		a := make([]float32, 256)
		a[pos[0]*16+pos[1]] = 1
		check(fmt.Sprintf("A one-hot %v", pos), a, bd, true)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := make([]float32, 256), make([]float32, 128)
	for i := range a {
		a[i] = rng.Float32()*2 - 1
	}
	for i := range b {
		b[i] = rng.Float32()*2 - 1
	}
	check("random", a, b, false)
}

func TestEmuCpAsync(t *testing.T) {
	d := faultDriver(t)
	src := make([]float32, 64)
	for i := range src {
		src[i] = float32(i + 1)
	}
	psrc := upload(t, d, src)
	pout := devBuf(t, d, 64)
	launch := func(mode, shift int) error {
		return d.launchFault("tc_cp_async", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, args{}.raw(psrc).raw(pout).i(mode).i(shift))
	}
	eachOrder(t, func(t *testing.T, _ string) {
		for _, mode := range []int{0, 2, 4} {
			if err := launch(mode, 0); err != nil {
				t.Fatalf("mode %d: %v", mode, err)
			}
			got := readFloats(t, d, pout, 64)
			for i, v := range got {
				want := src[i]
				if mode == 2 && i < 32 && i%4 >= (i/4)%4 { // lane i/4 copied 4*(lane%4) bytes
					want = 0
				}
				if v != want {
					t.Fatalf("mode %d: s[%d] = %g, want %g", mode, i, v, want)
				}
			}
		}
		// A read with no wait_group covering the copy is reported, even
		// after a __syncthreads.
		wantErr(t, launch(1, 0), "kernel tc_cp_async", "shared-memory read of s[", "still in flight",
			"cp.async.wait_group")
		// wait_group 1 leaves the newest group in flight.
		wantErr(t, launch(3, 0), "shared-memory read of s[", "still in flight")
		// A cp.async into an element another lane read in the same
		// barrier interval is a race (or, if the read comes second, a read
		// of an element in flight): reported in every order.
		if err := launch(6, 0); err == nil || !strings.Contains(err.Error(), " s[") ||
			!(strings.Contains(err.Error(), "shared-memory race") || strings.Contains(err.Error(), "still in flight")) {
			t.Fatalf("mode 6: error %v, want a race or in-flight read on s[...]", err)
		}
		// The source is bounds-checked when the copy is issued.
		wantErr(t, launch(5, 4), "kernel tc_cp_async", "out-of-bounds global-memory read")
	})
}

// TestEmuCvtRounding: the emulated cvt.rna.tf32.f32 and cvt.rn.bf16.f32 on
// ties and neighbours (hand-worked bit patterns), then on random values
// against backend.RoundTF32 / RoundBF16.
func TestEmuCvtRounding(t *testing.T) {
	d := faultDriver(t)
	cases := []struct {
		in   uint32
		tf32 uint32 // cvt.rna: ties away from zero
		bf16 uint16 // cvt.rn: ties to even
	}{
		{0x3f800000, 0x3f800000, 0x3f80}, // 1.0 exact
		{0x3f801000, 0x3f802000, 0x3f80}, // tf32 tie (rounds up, away); bf16 below half
		{0xbf801000, 0xbf802000, 0xbf80}, // negative tf32 tie: away from zero
		{0x3f800fff, 0x3f800000, 0x3f80}, // just below the tf32 tie
		{0x3f803000, 0x3f804000, 0x3f80}, // tf32 tie at odd kept bit: still away
		{0x3f808000, 0x3f808000, 0x3f80}, // bf16 tie, kept bit even: down
		{0x3f818000, 0x3f818000, 0x3f82}, // bf16 tie, kept bit odd: up to even
		{0xbf818000, 0xbf818000, 0xbf82}, // negative bf16 tie to even
		{0x3f808001, 0x3f808000, 0x3f81}, // just above the bf16 tie
		{0x7f7fffff, 0x7f800000, 0x7f80}, // largest float rounds to +Inf in both
		{0x7f800000, 0x7f800000, 0x7f80}, // +Inf stays
		{0x00001000, 0x00002000, 0x0000}, // subnormal tf32 tie
		{0x00018000, 0x00018000, 0x0002}, // subnormal bf16 tie to even (up)
	}
	in := make([]float32, len(cases))
	for i, c := range cases {
		in[i] = math.Float32frombits(c.in)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 500; i++ {
		in = append(in, math.Float32frombits(rng.Uint32()&0xbfffffff)) // finite values of any size
	}
	n := len(in)
	pin := upload(t, d, in)
	ptf, pbf := devBuf(t, d, n), devBuf(t, d, n)
	if err := d.launchFault("tc_cvt", dim3{(n + 127) / 128, 1, 1}, dim3{128, 1, 1}, 0, args{}.raw(pin).raw(ptf).raw(pbf).i(n)); err != nil {
		t.Fatal(err)
	}
	tf := readFloats(t, d, ptf, n)
	bf := download[uint32](t, d, pbf, n)
	for i, x := range in {
		var wantTF uint32
		var wantBF uint16
		if i < len(cases) {
			wantTF, wantBF = cases[i].tf32, cases[i].bf16
		} else {
			wantTF = math.Float32bits(backend.RoundTF32(x))
			wantBF = uint16(math.Float32bits(backend.RoundBF16(x)) >> 16)
		}
		if got := math.Float32bits(tf[i]); got != wantTF {
			t.Errorf("tf32(%#08x) = %#08x, want %#08x", math.Float32bits(x), got, wantTF)
		}
		if bf[i] != uint32(wantBF) {
			t.Errorf("bf16(%#08x) = %#04x, want %#04x", math.Float32bits(x), bf[i], wantBF)
		}
		if i < len(cases) { // the Go functions agree with the hand-worked bits too
			if g := math.Float32bits(backend.RoundTF32(x)); g != wantTF {
				t.Errorf("backend.RoundTF32(%#08x) = %#08x, want %#08x", math.Float32bits(x), g, wantTF)
			}
			if g := uint16(math.Float32bits(backend.RoundBF16(x)) >> 16); g != wantBF {
				t.Errorf("backend.RoundBF16(%#08x) = %#04x, want %#04x", math.Float32bits(x), g, wantBF)
			}
		}
	}
}
