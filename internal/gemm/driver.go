package gemm

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Cache blocking (GotoBLAS/BLIS loop order), sized for a core with a 32 KiB
// L1d and a 512 KiB L2 (AMD Zen 3; also reasonable for recent Intel cores):
//
//   - kcMax: depth of one packed block. A kc×nr micro-panel of B is
//     256·16·4 B = 16 KiB and stays in L1 while the kernel sweeps the rows.
//   - mcMax: rows of the packed A block, 144·256·4 B = 144 KiB, kept in L2
//     and reused across every micro-panel of the B block.
//   - nbMax: widest column block one task packs (the B block, up to
//     256·512·4 B = 512 KiB, lives in L2/L3).
const (
	kcMax = 256
	mcMax = 24 * mr
	nbMax = 32 * nr
)

// parallelMinFlops is the smallest problem (2·m·n·k) that is split across
// goroutines; below it the start-up and hand-off cost more than they save.
const parallelMinFlops = 1 << 22

// alignFloats is the alignment (in float32s) of the packing buffers: 64 B,
// one cache line.
const alignFloats = 16

// workspace holds one goroutine's packing buffers (about 660 KiB). They
// are recycled through a free list so steady-state calls allocate nothing
// large.
type workspace struct {
	a    []float32        // packed A block, mcMax×kcMax
	b    []float32        // packed B block, kcMax×nbMax
	tile [mr * nr]float32 // scratch for edge tiles
	offs [2 * mr]int      // row offsets of one SgemmRowOffsetsA tile (or two)
}

// freeWorkspaces is a bounded free list of workspaces. A sync.Pool is not
// used because every GC cycle empties it, and a training loop allocates
// enough to collect several times per step, which would re-allocate the
// buffers over and over. At most cap(freeWorkspaces) idle workspaces are
// kept.
var freeWorkspaces = make(chan *workspace, 32)

// getWorkspace takes a workspace from the free list or allocates one.
func getWorkspace() *workspace {
	select {
	case ws := <-freeWorkspaces:
		return ws
	default:
		return &workspace{a: alignedFloats(mcMax * kcMax), b: alignedFloats(kcMax * nbMax)}
	}
}

// putWorkspace returns ws to the free list, dropping it if the list is full.
func putWorkspace(ws *workspace) {
	select {
	case freeWorkspaces <- ws:
	default:
	}
}

// alignedFloats returns a zeroed slice of n float32s whose first element is
// 64-byte aligned.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+alignFloats)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(&buf[0])) % (alignFloats * 4)); rem != 0 {
		off = (alignFloats*4 - rem) / 4
	}
	return buf[off : off+n : off+n]
}

// plan is the partition of one Sgemm call. kc depends only on k, so every
// element of C is accumulated in the same order for any thread count; the
// task grid (mb×nb rectangles of C) only decides who computes what.
type plan struct {
	kc       int // depth of each k-block (the last one may be shorter)
	mb, nb   int // task rectangle; multiples of mr and nr except at edges
	nrb, ncb int // tasks along M and N
	workers  int // goroutines to run
}

// kBlock returns the k-block depth for a sum of length k: the fewest blocks
// of at most kcMax, evened out and rounded up to a multiple of 4 (the
// kernel's unroll). It depends on k alone, which keeps results bit-identical
// across thread counts.
func kBlock(k int) int {
	nk := ceilDiv(k, kcMax)
	return min(kcMax, roundUp(ceilDiv(k, nk), 4))
}

// makePlan splits the m×n output into tasks for up to threads goroutines.
// It aims for about 3 tasks per goroutine (dynamic hand-out then evens out
// uneven progress on a shared machine) while keeping the repacking cost
// m·(column blocks) + n·(row blocks) small.
func makePlan(m, n, k, threads int) plan {
	p := plan{kc: kBlock(k), mb: m, nb: min(n, nbMax), nrb: 1, ncb: ceilDiv(n, nbMax), workers: 1}
	if threads < 2 || 2*float64(m)*float64(n)*float64(k) < parallelMinFlops {
		p.nb = roundUp(ceilDiv(n, p.ncb), nr)
		p.ncb = ceilDiv(n, p.nb)
		return p
	}
	want := 3 * threads
	best := -1.0
	maxRows := ceilDiv(m, mr)
	maxCols := ceilDiv(n, nr)
	for nrb := 1; nrb <= min(want, maxRows); nrb++ {
		ncb := min(maxCols, max(ceilDiv(n, nbMax), ceilDiv(want, nrb)))
		mb := roundUp(ceilDiv(m, nrb), mr)
		nb := roundUp(ceilDiv(n, ncb), nr)
		rb, cb := ceilDiv(m, mb), ceilDiv(n, nb)
		cost := float64(m)*float64(cb) + float64(n)*float64(rb)
		if rb*cb < want {
			cost *= 1.5 // too few tasks to balance well
		}
		if best < 0 || cost < best {
			best = cost
			p.mb, p.nb, p.nrb, p.ncb = mb, nb, rb, cb
		}
	}
	p.workers = min(threads, p.nrb*p.ncb)
	return p
}

// sgemm is Sgemm after argument checking, with the micro-kernel and the
// goroutine budget explicit so tests can force each path.
func sgemm(kind kernelKind, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(kind, threads, nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmWith is sgemm with an optional prepacked A: when pa is not nil its
// blocks are used instead of packing a (which is then ignored), giving
// bit-identical results.
func sgemmWith(kind kernelKind, threads int, pa *PackedA, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	ks := kernelsFor(kind)
	p := makePlan(m, n, k, threads)
	tasks := p.nrb * p.ncb
	run := func(ws *workspace, t int) {
		rb, cb := t%p.nrb, t/p.nrb
		i0, j0 := rb*p.mb, cb*p.nb
		mt, nt := min(p.mb, m-i0), min(p.nb, n-j0)
		for p0 := 0; p0 < k; p0 += p.kc {
			kc := min(p.kc, k-p0)
			bEff := beta
			if p0 > 0 {
				bEff = 1 // later k-blocks accumulate onto the partial result
			}
			packB(ws.b, transB, b, ldb, p0, kc, j0, nt)
			for ic := i0; ic < i0+mt; ic += mcMax {
				mc := min(mcMax, i0+mt-ic)
				ap := ws.a
				if pa != nil {
					ap = pa.block(ic, p0, kc)
				} else {
					packA(ap, transA, a, lda, ic, mc, p0, kc)
				}
				macroKernel(ks, kc, mc, nt, ap, ws.b, &ws.tile, c[ic*ldc+j0:], ldc, alpha, bEff)
			}
		}
	}
	if p.workers <= 1 {
		ws := getWorkspace()
		for t := 0; t < tasks; t++ {
			run(ws, t)
		}
		putWorkspace(ws)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		ws := getWorkspace()
		for t := int(next.Add(1) - 1); t < tasks; t = int(next.Add(1) - 1) {
			run(ws, t)
		}
		putWorkspace(ws)
	}
	for w := 1; w < p.workers; w++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// macroKernel multiplies a packed mc×kc block of A by a packed kc×nc block of
// B into the mc×nc block of C at c, tile by tile: the widest tile of ks that
// fits (up to two A and two B micro-panels at once), mr×nr tiles at the
// edges. Edge tiles go through a full-size scratch tile so every element of
// C is produced by the same kernel arithmetic, wherever the partition puts
// it.
func macroKernel(ks *kernelSet, kc, mc, nc int, ap, bp []float32, tile *[mr * nr]float32, c []float32, ldc int, alpha, beta float32) {
	kern := ks.tile[0][0]
	for jr := 0; jr < nc; {
		cols := min(nr, nc-jr)
		cb := 1
		if nc-jr >= 2*nr && ks.tile[0][1] != nil {
			cb = 2
		}
		for ir := 0; ir < mc; {
			rows := min(mr, mc-ir)
			if rows == mr && cols == nr {
				ra := 1
				if mc-ir >= 2*mr && ks.tile[1][cb-1] != nil {
					ra = 2
				}
				ks.tile[ra-1][cb-1](kc, ap[ir*kc:], bp[jr*kc:], c[ir*ldc+jr:], ldc, alpha, beta)
				ir += ra * mr
				continue
			}
			aPanel := ap[ir*kc : ir*kc+kc*mr]
			for q := 0; q < cb; q++ {
				j := jr + q*nr
				bPanel := bp[j*kc : j*kc+kc*nr]
				if beta != 0 {
					for i := 0; i < rows; i++ {
						copy(tile[i*nr:i*nr+cols], c[(ir+i)*ldc+j:(ir+i)*ldc+j+cols])
					}
				}
				kern(kc, aPanel, bPanel, tile[:], nr, alpha, beta)
				for i := 0; i < rows; i++ {
					copy(c[(ir+i)*ldc+j:(ir+i)*ldc+j+cols], tile[i*nr:i*nr+cols])
				}
			}
			ir += mr
		}
		jr += cb * nr
	}
}

// scaleC sets C = beta*C (C = 0 when beta == 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
