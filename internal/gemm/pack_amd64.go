//go:build !noasm

package gemm

// packBRowsAVX is implemented in pack_amd64.s.
//
//go:noescape
func packBRowsAVX(dst, src *float32, kc, panels, ldb int)

// packBRows packs the full nr-wide panels of a non-transposed B block (see
// packB): kc rows of panels·nr floats starting at src, row stride ldb.
func packBRows(dst, src []float32, kc, panels, ldb int) {
	if kc == 0 || panels == 0 {
		return
	}
	_ = dst[kc*nr*panels-1]
	_ = src[(kc-1)*ldb+panels*nr-1]
	if haveAVX2Kernel {
		packBRowsAVX(&dst[0], &src[0], kc, panels, ldb)
		return
	}
	packBRowsGo(dst, src, kc, panels, ldb)
}
