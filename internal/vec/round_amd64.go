//go:build !noasm

package vec

// Implemented in round_amd64.s; n is a positive multiple of 8.
//
//go:noescape
func roundBF16AVX2(dst, src *float32, n int)

//go:noescape
func roundTF32AVX2(dst, src *float32, n int)

func roundBF16Body(dst, src []float32) { roundBF16AVX2(&dst[0], &src[0], len(src)) }
func roundTF32Body(dst, src []float32) { roundTF32AVX2(&dst[0], &src[0], len(src)) }
