package vec

import "math"

// RoundBF16 writes src rounded to bfloat16 (round to nearest, ties to
// even; NaN made quiet; past the largest bfloat16 to infinity) into dst,
// as float32 values with the low 16 bits zero: backend.RoundBF16 over a
// slice. len(dst) must be >= len(src).
func RoundBF16(dst, src []float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 7
	if n > 0 && haveAVX2 {
		roundBF16Body(dst[:n], src[:n])
	} else {
		n = 0
	}
	roundBF16Go(dst[n:], src[n:])
}

// RoundTF32 writes src rounded to TF32 (10 mantissa bits; round to
// nearest, ties away from zero; Inf kept, NaN made quiet) into dst, as
// float32 values with the low 13 bits zero: backend.RoundTF32 over a
// slice. len(dst) must be >= len(src).
func RoundTF32(dst, src []float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 7
	if n > 0 && haveAVX2 {
		roundTF32Body(dst[:n], src[:n])
	} else {
		n = 0
	}
	roundTF32Go(dst[n:], src[n:])
}

// Both roundings, branch-free per element: with nan = |u| > Inf,
//
//	bf16: ((u + (nan ? 0 : 0x7fff + (u>>16)&1)) | (nan ? 0x400000 : 0)) & 0xffff0000
//	tf32: ((u + (inf or nan ? 0 : 0x1000)) | (nan ? 0x400000 : 0)) & 0xffffe000
//
// which the assembly bodies compute 8 lanes at a time.

func roundBF16Go(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		u := math.Float32bits(v)
		if u&0x7fffffff > 0x7f800000 {
			dst[i] = math.Float32frombits((u | 0x00400000) & 0xffff0000)
			continue
		}
		u += 0x7fff + (u>>16)&1
		dst[i] = math.Float32frombits(u & 0xffff0000)
	}
}

func roundTF32Go(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		u := math.Float32bits(v)
		switch {
		case u&0x7fffffff > 0x7f800000:
			u |= 0x00400000
		case u&0x7f800000 != 0x7f800000:
			u += 0x1000
		}
		dst[i] = math.Float32frombits(u & 0xffffe000)
	}
}
