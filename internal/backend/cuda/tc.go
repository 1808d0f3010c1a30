//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"os"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// The GEMM ladder (docs/cuda.md, "GEMM rungs"): in BF16 or TF32 precision
// the linear layer (forward and both gradients) and the convolution
// (forward, data and filter gradients) run on the tensor-core rung of that
// format (kernels/gemm_tc.cuh, tc.cu: rung 3, bf16 mma m16n8k16; rung 2,
// tf32 mma m16n8k8) when the channel counts allow (multiples of the 16-byte
// cp.async chunk: 8 bf16, 4 tf32; the data gradient also needs stride 1 or
// 2), else on the FFMA rung's _bf16 / _tf32 kernels, which round the same
// operands the same way. The conv kernels come in the general gather and
// the tap-uniform _tap version (tcTap).

// gemmRung selects the GEMM rung.
type gemmRung int32

const (
	rungAuto      gemmRung = iota // tensor cores where they apply, tile by size
	rungFFMA                      // the FFMA rung always (gemm_tile.cuh)
	rungTC128                     // tensor cores where they apply, 128x128 tile
	rungTC64                      // tensor cores where they apply, 64x64 tile
	rungTCGeneral                 // as auto, but the convolutions always on the general gather kernels (no _tap)
)

var rungNames = map[string]gemmRung{"auto": rungAuto, "ffma": rungFFMA, "tc128": rungTC128, "tc64": rungTC64, "tcgeneral": rungTCGeneral}

// GEMMRungEnv names the environment variable New reads the GEMM rung from:
// auto (default), ffma, tc128, tc64 or tcgeneral.
const GEMMRungEnv = "SIMCLR_CUDA_GEMM"

func parseRung(s string) (gemmRung, error) {
	if s == "" {
		return rungAuto, nil
	}
	r, ok := rungNames[s]
	if !ok {
		return rungAuto, fmt.Errorf("cuda: GEMM rung %q not understood; use auto (tensor cores where they apply), ffma, tc128, tc64 or tcgeneral", s)
	}
	return r, nil
}

func rungFromEnv() (gemmRung, error) {
	r, err := parseRung(os.Getenv(GEMMRungEnv))
	if err != nil {
		return r, fmt.Errorf("%s: %w", GEMMRungEnv, err)
	}
	return r, nil
}

// SetGEMMRung selects the GEMM rung of the matrix ops in BF16 and TF32
// precision (fp32 always runs on the FFMA rung):
// "auto" (tensor cores where the shapes allow, the 128x128 tile for large
// products and 64x64 for small ones), "ffma" (the CUDA-core rung, always),
// "tc128" or "tc64" (tensor cores with that tile where the shapes allow),
// "tcgeneral" (as auto, but the convolutions on the general gather kernels
// even where the tap-uniform _tap kernels apply: the previous version).
// For tests and measurements; SIMCLR_CUDA_GEMM sets it for New.
func (b *Backend) SetGEMMRung(r string) error {
	g, err := parseRung(r)
	if err != nil {
		return err
	}
	b.rung.Store(int32(g))
	return nil
}

// Tile geometry of gemm_tc.cuh (TcLarge, TcSmall).
const (
	// Three stages of BM + BN rows of 80 bytes, in either format.
	tcLargeTile, tcLargeThreads, tcLargeShared = 128, 256, 3 * (128 + 128) * 80
	tcSmallTile, tcSmallThreads, tcSmallShared = 64, 128, 3 * (64 + 64) * 80
	// tcLargeMinBlocks: below this many 128x128 tiles the GPU is better
	// filled by the 64x64 tile (an H100 has 132 SMs).
	tcLargeMinBlocks = 132
)

// tcFormat is the operand format of a tensor-core rung (gemm_tc.cuh
// TcBF16, TcTF32): the kernels' name infix, the stored element's size, and
// the channel multiples its kernels need. chunk: elements per 16-byte
// cp.async chunk (a GEMM's reduction length, a convolution's reduced
// channels, must be a multiple); tap: the K tile, the reduced channel
// multiple of the tap-uniform forward and data gradient (every K tile in
// one tap); filterTap: two chunks, the Cin and Cout multiple of the paired
// filter gradient (a pair of chunks in one tap).
type tcFormat struct {
	name                       string
	elemBytes                  int
	chunk, tap, filterTap      int
	convert, convertTransposed string // the conversion kernels
}

var (
	tcBF16 = tcFormat{name: "bf16", elemBytes: 2, chunk: 8, tap: 32, filterTap: 16, convert: "convert_bf16", convertTransposed: "nchw_to_nhwc_bf16"}
	tcTF32 = tcFormat{name: "tf32", elemBytes: 4, chunk: 4, tap: 16, filterTap: 8, convert: "convert_tf32", convertTransposed: "nchw_to_nhwc_tf32"}
)

// kernel is the format's version of a tensor-core GEMM kernel: base
// "conv2d_fwd" -> "conv2d_fwd_tf32_tc".
func (f tcFormat) kernel(base string) string { return base + "_" + f.name + "_tc" }

// tcFmt returns the tensor-core format of the current precision; ok is
// false when no tensor-core rung is selected (fp32, or rung ffma). Each
// op adds its own shape conditions.
func (b *Backend) tcFmt() (tcFormat, bool) {
	if gemmRung(b.rung.Load()) == rungFFMA {
		return tcFormat{}, false
	}
	switch backend.Precision(b.prec.Load()) {
	case backend.BF16:
		return tcBF16, true
	case backend.TF32:
		return tcTF32, true
	}
	return tcFormat{}, false
}

// tcUse returns the format when a GEMM with reduction length k runs on a
// tensor-core rung.
func (b *Backend) tcUse(k int) (tcFormat, bool) {
	f, ok := b.tcFmt()
	return f, ok && k > 0 && k%f.chunk == 0
}

// tcGEMMBases are the tensor-core GEMM kernels of each format (with the
// format infix and _tc), whose 128x128 versions need the dynamic shared
// memory limit raised.
var tcGEMMBases = []string{"gemm_nt", "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter"}

// tcTap returns kernel's tap-uniform version (kernel + "_tap") when ok (the
// shape allows it) and the rung is not tcgeneral, else kernel (the general
// gather: any channel count that is a multiple of the format's chunk).
func (b *Backend) tcTap(kernel string, ok bool) string {
	if ok && gemmRung(b.rung.Load()) != rungTCGeneral {
		return kernel + "_tap"
	}
	return kernel
}

// tcLaunch picks the tile for an m x n product and launches kernel (its
// _s variant for the small tile) with the tensor-core launch shape. The
// shapes logged for gemm_nt_FMT_tc are its operands [m][k] and [n][k].
func (b *Backend) tcLaunch(op, kernel string, m, n int, a args, shapes ...tensor.Shape) error {
	return b.tcLaunchSplit(op, kernel, m, n, 1, a, shapes...)
}

// tcLaunchSplit is tcLaunch with grid.z = splits (split-K slices).
func (b *Backend) tcLaunchSplit(op, kernel string, m, n, splits int, a args, shapes ...tensor.Shape) error {
	large := false
	switch gemmRung(b.rung.Load()) {
	case rungTC128:
		large = true
	case rungAuto, rungTCGeneral:
		// The split-K slices (grid.z) are blocks too.
		large = ceilDiv(m, tcLargeTile)*ceilDiv(n, tcLargeTile)*splits >= tcLargeMinBlocks
	}
	tile, threads, shared := tcSmallTile, tcSmallThreads, tcSmallShared
	if large {
		tile, threads, shared = tcLargeTile, tcLargeThreads, tcLargeShared
		b.tcShared.Do(func() {
			for _, f := range []tcFormat{tcBF16, tcTF32} {
				for _, base := range tcGEMMBases {
					for _, k := range []string{f.kernel(base), f.kernel(base) + "_tap"} {
						if base == "gemm_nt" && k != f.kernel(base) {
							continue
						}
						if err := b.drv.setMaxDynamicShared(k, tcLargeShared); err != nil {
							b.tcErr = fmt.Errorf("raise the dynamic shared memory limit of %s to %d bytes: %w", k, tcLargeShared, err)
							return
						}
					}
				}
			}
		})
		if b.tcErr != nil {
			return fmt.Errorf("%s: %w", op, b.tcErr)
		}
	} else {
		kernel += "_s"
	}
	grid := dim3{max(1, ceilDiv(n, tile)), max(1, ceilDiv(m, tile)), splits}
	if grid.y > maxGridYZ || grid.z > maxGridYZ {
		return fmt.Errorf("%s: %d x %d result needs grid %v, beyond CUDA's grid.y limit; use a smaller batch", op, m, n, grid)
	}
	return b.launchShared(op, kernel, grid, dim3{threads, 1, 1}, shared, a, shapes...)
}

// tcCopy converts t (fp32) into a new scratch buffer of format f (bf16,
// or fp32 rounded to tf32) in the same layout.
func (b *Backend) tcCopy(op string, f tcFormat, t *Tensor) (scratch, error) {
	n := t.Numel()
	s, err := b.scratch(int64(n) * int64(f.elemBytes))
	if err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	if err := b.launch(op, f.convert, elemGrid(n), block1D(), args{}.ptr(t).raw(s.ptr).i(n), t.Shape); err != nil {
		s.release()
		return s, err
	}
	return s, nil
}

// tcInner converts t, read as [outer][c][inner] fp32, into a new scratch
// buffer of format f laid out [outer][inner][c] (NCHW -> NHWC with outer =
// N, c = C, inner = H*W; a transpose with outer = 1).
func (b *Backend) tcInner(op string, f tcFormat, t *Tensor, outer, c, inner int) (scratch, error) {
	n := outer * c * inner
	s, err := b.scratch(int64(n) * int64(f.elemBytes))
	if err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	grid := dim3{max(1, ceilDiv(inner, 32)), max(1, ceilDiv(c, 32)), max(1, outer)}
	if grid.y > maxGridYZ || grid.z > maxGridYZ {
		s.release()
		return s, fmt.Errorf("%s: %s conversion of %v needs grid %v, beyond CUDA's grid.y/z limit; use a smaller batch", op, f.name, t.Shape, grid)
	}
	if err := b.launch(op, f.convertTransposed, grid, block1D(), args{}.ptr(t).raw(s.ptr).i(outer).i(c).i(inner), t.Shape); err != nil {
		s.release()
		return s, err
	}
	return s, nil
}

// releaseAll returns scratch buffers to the pool (stream-ordered: later
// work on the one stream cannot overtake the kernels that read them).
func releaseAll(ss ...scratch) {
	for _, s := range ss {
		if s.ptr != 0 {
			s.release()
		}
	}
}

// linearForwardTC: y = x w^T + b on tensor cores in format f (A = x, B =
// w, both [rows][In]).
func (b *Backend) linearForwardTC(op string, f tcFormat, x, w, bias, y *Tensor, n, in, out int) error {
	xb, err := b.tcCopy(op, f, x)
	if err != nil {
		return err
	}
	defer releaseAll(xb)
	wb, err := b.tcCopy(op, f, w)
	if err != nil {
		return err
	}
	defer releaseAll(wb)
	a := args{}.raw(xb.ptr).raw(wb.ptr).optPtr(bias).ptr(y).i(n).i(out).i(in)
	return b.tcLaunch(op, f.kernel("gemm_nt"), n, out, a, tensor.Shape{n, in}, tensor.Shape{out, in})
}

// linearBackwardDataTC: dx = dy w on tensor cores (A = dy [N][Out], B =
// w^T [In][Out]).
func (b *Backend) linearBackwardDataTC(op string, f tcFormat, w, dy, dx *Tensor, n, in, out int) error {
	dyb, err := b.tcCopy(op, f, dy)
	if err != nil {
		return err
	}
	defer releaseAll(dyb)
	wt, err := b.tcInner(op, f, w, 1, out, in)
	if err != nil {
		return err
	}
	defer releaseAll(wt)
	a := args{}.raw(dyb.ptr).raw(wt.ptr).raw(0).ptr(dx).i(n).i(in).i(out)
	return b.tcLaunch(op, f.kernel("gemm_nt"), n, in, a, tensor.Shape{n, out}, tensor.Shape{in, out})
}

// linearBackwardWeightTC: dw = dy^T x on tensor cores (A = dy^T [Out][N],
// B = x^T [In][N]).
func (b *Backend) linearBackwardWeightTC(op string, f tcFormat, x, dy, dw *Tensor, n, in, out int) error {
	dyt, err := b.tcInner(op, f, dy, 1, n, out)
	if err != nil {
		return err
	}
	defer releaseAll(dyt)
	xt, err := b.tcInner(op, f, x, 1, n, in)
	if err != nil {
		return err
	}
	defer releaseAll(xt)
	a := args{}.raw(dyt.ptr).raw(xt.ptr).raw(0).ptr(dw).i(out).i(in).i(n)
	return b.tcLaunch(op, f.kernel("gemm_nt"), out, in, a, tensor.Shape{out, n}, tensor.Shape{in, n})
}

// convForwardTC: y = conv(x, w) on tensor cores with x in NHWC and w as
// [Cout][K][K][Cin] (format f), reduction order (kh, kw, ci).
func (b *Backend) convForwardTC(op string, f tcFormat, x, w, y *Tensor, g convGeom) error {
	xh, err := b.tcInner(op, f, x, g.n, g.cin, g.h*g.w)
	if err != nil {
		return err
	}
	defer releaseAll(xh)
	wr, err := b.tcInner(op, f, w, g.cout, g.cin, g.k*g.k)
	if err != nil {
		return err
	}
	defer releaseAll(wr)
	a := g.kernelArgs(args{}.raw(xh.ptr).raw(wr.ptr).ptr(y))
	return b.tcLaunch(op, b.tcTap(f.kernel("conv2d_fwd"), g.cin%f.tap == 0), g.cout, g.n*g.ho*g.wo, a, x.Shape, w.Shape, y.Shape)
}

// convBackwardDataTC: dx on tensor cores with dy in NHWC and w as
// [Cin][K][K][Cout] (format f), reduction order (kh, kw, co); stride 1 or 2.
func (b *Backend) convBackwardDataTC(op string, f tcFormat, dy, w, dx *Tensor, g convGeom) error {
	dyh, err := b.tcInner(op, f, dy, g.n, g.cout, g.ho*g.wo)
	if err != nil {
		return err
	}
	defer releaseAll(dyh)
	wt, err := b.tcInner(op, f, w, 1, g.cout, g.cin*g.k*g.k)
	if err != nil {
		return err
	}
	defer releaseAll(wt)
	a := g.kernelArgs(args{}.raw(dyh.ptr).raw(wt.ptr).ptr(dx))
	return b.tcLaunch(op, b.tcTap(f.kernel("conv2d_bwd_data"), g.cout%f.tap == 0), g.cin, g.n*g.h*g.w, a, dy.Shape, w.Shape, dx.Shape)
}

// Split-K on the tensor-core filter gradient: a product of few tiles (the
// 1x1 downsample convolutions: Cout x Cin) would fill only a few SMs with
// the FFMA rung's split; it is split further, up to tcMaxSplitK slices of
// at least tcMinSplitPixels pixels, until it has tcLargeMinBlocks blocks.
const (
	tcMaxSplitK      = 64
	tcMinSplitPixels = 512
)

// tcFilterSplits returns the split-K slice count and slice length for the
// tensor-core filter gradient of an m x n product over total pixels, given
// the FFMA rung's (splits, chunk). It depends only on the shapes.
func tcFilterSplits(m, n, total, splits, chunk int) (int, int) {
	tiles := ceilDiv(m, tcSmallTile) * ceilDiv(n, tcSmallTile)
	if tiles*splits >= tcLargeMinBlocks {
		return splits, chunk
	}
	want := min(tcMaxSplitK, ceilDiv(tcLargeMinBlocks, tiles), total/tcMinSplitPixels)
	if want <= splits {
		return splits, chunk
	}
	chunk = ceilDiv(total, want)
	return ceilDiv(total, chunk), chunk
}

// convBackwardFilterTC: dw on tensor cores, K-major (gemm_tc_tn): A = dy
// and B = im2col(x), both NHWC in format f, the reduction over the output pixels
// split into slices of chunk pixels (as on the FFMA rung, or more:
// tcFilterSplits) and the slices added in order by splitk_reduce.
func (b *Backend) convBackwardFilterTC(op string, f tcFormat, x, dy, dw *Tensor, g convGeom, splits, chunk int) error {
	splits, chunk = tcFilterSplits(g.cout, g.cin*g.k*g.k, g.n*g.ho*g.wo, splits, chunk)
	xh, err := b.tcInner(op, f, x, g.n, g.cin, g.h*g.w)
	if err != nil {
		return err
	}
	defer releaseAll(xh)
	dyh, err := b.tcInner(op, f, dy, g.n, g.cout, g.ho*g.wo)
	if err != nil {
		return err
	}
	defer releaseAll(dyh)
	r := g.cin * g.k * g.k
	kernel := b.tcTap(f.kernel("conv2d_bwd_filter"), g.cin%f.filterTap == 0 && g.cout%f.filterTap == 0)
	if splits == 1 {
		a := g.kernelArgs(args{}.raw(xh.ptr).raw(dyh.ptr).ptr(dw)).i(chunk)
		return b.tcLaunchSplit(op, kernel, g.cout, r, 1, a, x.Shape, dy.Shape, dw.Shape)
	}
	wLen := dw.Numel()
	part, err := b.scratch(int64(splits) * int64(wLen) * 4)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer part.release()
	a := g.kernelArgs(args{}.raw(xh.ptr).raw(dyh.ptr).raw(part.ptr)).i(chunk)
	if err := b.tcLaunchSplit(op, kernel, g.cout, r, splits, a, x.Shape, dy.Shape, dw.Shape); err != nil {
		return err
	}
	return b.launch(op, "splitk_reduce", elemGrid(wLen), block1D(), args{}.raw(part.ptr).ptr(dw).i(splits).i(wLen), dw.Shape)
}
