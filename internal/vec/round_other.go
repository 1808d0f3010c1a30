//go:build !amd64 || noasm

package vec

func roundBF16Body(dst, src []float32) { roundBF16Go(dst, src) }
func roundTF32Body(dst, src []float32) { roundTF32Go(dst, src) }
