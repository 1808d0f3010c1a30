//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
)

// convGeom holds the sizes of one convolution.
type convGeom struct {
	n, cin, h, w, cout, k, stride, pad, ho, wo int
}

// newConvGeom converts the geometry the shape inference returns
// (backend.CheckConv2D*) and rejects outputs too large for the kernels'
// 32-bit indexing.
func newConvGeom(op string, cg backend.ConvGeometry, err error) (convGeom, error) {
	if err != nil {
		return convGeom{}, err
	}
	g := convGeom{n: cg.N, cin: cg.Cin, h: cg.H, w: cg.W, cout: cg.Cout, k: cg.K, stride: cg.Stride, pad: cg.Pad, ho: cg.Ho, wo: cg.Wo}
	if int64(g.n)*int64(g.cout)*int64(g.ho)*int64(g.wo) > maxElements {
		return convGeom{}, fmt.Errorf("%s: output [%d %d %d %d] is too large for 32-bit kernel indexing; use a smaller batch", op, g.n, g.cout, g.ho, g.wo)
	}
	return g, nil
}

// kernelArgs are the geometry arguments every conv kernel takes after its
// three pointers.
func (g convGeom) kernelArgs(a args) args {
	return a.i(g.n).i(g.cin).i(g.h).i(g.w).i(g.cout).i(g.k).i(g.stride).i(g.pad).i(g.ho).i(g.wo)
}

// Conv2DForward computes y = conv(x, w): x [N,Cin,H,W], w [Cout,Cin,K,K],
// y [N,Cout,Ho,Wo], as one implicit GEMM (M=Cout, N=N*Ho*Wo, K=Cin*K*K).
func (b *Backend) Conv2DForward(x, w, y *Tensor, p backend.ConvParams) error {
	const op = backend.OpConv2DForward
	if err := b.checkDev(op, "x w y", x, w, y); err != nil {
		return err
	}
	cg, err := backend.CheckConv2DForward(x.Shape, w.Shape, y.Shape, p)
	g, err := newConvGeom(op, cg, err)
	if err != nil {
		return err
	}
	if y.Numel() == 0 {
		return nil
	}
	if f, ok := b.tcUse(g.cin * g.k * g.k); ok && g.cin%f.chunk == 0 {
		return b.convForwardTC(op, f, x, w, y, g)
	}
	grid, err := gemmGrid(op, g.cout, g.n*g.ho*g.wo, 1)
	if err != nil {
		return err
	}
	return b.launch(op, b.gemmKernel("conv2d_fwd"), grid, block1D(), g.kernelArgs(args{}.ptr(x).ptr(w).ptr(y)), x.Shape, w.Shape, y.Shape)
}

// Conv2DBackwardData computes dx, the gradient with respect to the input,
// as a gather GEMM (M=Cin, N=N*H*W, K=Cout*K*K): every dx element is
// written by exactly one thread.
func (b *Backend) Conv2DBackwardData(dy, w, dx *Tensor, p backend.ConvParams) error {
	const op = backend.OpConv2DBackwardData
	if err := b.checkDev(op, "dy w dx", dy, w, dx); err != nil {
		return err
	}
	cg, err := backend.CheckConv2DBackwardData(dy.Shape, w.Shape, dx.Shape, p)
	g, err := newConvGeom(op, cg, err)
	if err != nil {
		return err
	}
	if dx.Numel() == 0 {
		return nil
	}
	if g.cout == 0 || dy.Numel() == 0 {
		return b.fill(dx, 0)
	}
	if f, ok := b.tcUse(g.cout * g.k * g.k); ok && g.cout%f.chunk == 0 && (g.stride == 1 || g.stride == 2) {
		return b.convBackwardDataTC(op, f, dy, w, dx, g)
	}
	grid, err := gemmGrid(op, g.cin, g.n*g.h*g.w, 1)
	if err != nil {
		return err
	}
	return b.launch(op, b.gemmKernel("conv2d_bwd_data"), grid, block1D(), g.kernelArgs(args{}.ptr(dy).ptr(w).ptr(dx)), dy.Shape, w.Shape, dx.Shape)
}

// Conv2DBackwardFilter computes dw = sum_n dy[n] col(x[n])^T as a GEMM
// (M=Cout, N=Cin*K*K, K=N*Ho*Wo) split along K into at most maxSplitK
// slices whose partial results are added in slice order; the split depends
// only on the shapes, so dw is deterministic.
func (b *Backend) Conv2DBackwardFilter(x, dy, dw *Tensor, p backend.ConvParams) error {
	const op = backend.OpConv2DBackwardFilter
	if err := b.checkDev(op, "x dy dw", x, dy, dw); err != nil {
		return err
	}
	cg, err := backend.CheckConv2DBackwardFilter(x.Shape, dy.Shape, dw.Shape, p)
	g, err := newConvGeom(op, cg, err)
	if err != nil {
		return err
	}
	wLen := dw.Numel()
	if wLen == 0 {
		return nil
	}
	total := g.n * g.ho * g.wo
	if total == 0 {
		return b.fill(dw, 0)
	}
	perSplit := splitKChunk
	if v := b.splitChunk.Load(); v > 0 {
		perSplit = int(v)
	}
	splits := min(maxSplitK, ceilDiv(total, perSplit))
	chunk := ceilDiv(total, splits)
	splits = ceilDiv(total, chunk)
	if f, ok := b.tcFmt(); ok && g.cin%f.chunk == 0 && g.cout%f.chunk == 0 {
		return b.convBackwardFilterTC(op, f, x, dy, dw, g, splits, chunk)
	}
	grid, err := gemmGrid(op, g.cout, g.cin*g.k*g.k, splits)
	if err != nil {
		return err
	}
	if splits == 1 {
		a := g.kernelArgs(args{}.ptr(x).ptr(dy).ptr(dw)).i(chunk)
		return b.launch(op, b.gemmKernel("conv2d_bwd_filter"), grid, block1D(), a, x.Shape, dy.Shape, dw.Shape)
	}
	part, err := b.scratch(int64(splits) * int64(wLen) * 4)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer part.release()
	a := g.kernelArgs(args{}.ptr(x).ptr(dy).raw(part.ptr)).i(chunk)
	if err := b.launch(op, b.gemmKernel("conv2d_bwd_filter"), grid, block1D(), a, x.Shape, dy.Shape, dw.Shape); err != nil {
		return err
	}
	return b.launch(op, "splitk_reduce", elemGrid(wLen), block1D(), args{}.raw(part.ptr).ptr(dw).i(splits).i(wLen), dw.Shape)
}
