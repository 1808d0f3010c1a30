//go:build !amd64 || noasm

package gemm

// packBRows packs the full nr-wide panels of a non-transposed B block (see
// packB): kc rows of panels·nr floats starting at src, row stride ldb.
func packBRows(dst, src []float32, kc, panels, ldb int) {
	packBRowsGo(dst, src, kc, panels, ldb)
}
