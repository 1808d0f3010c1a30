package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranspose checks every element against the definition, for block
// and edge sizes, with and without room to read a partial last block, and
// that nothing outside the transposed matrix is written.
func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, rows := range []int{1, 5, 8, 13, 16, 28} {
		for _, cols := range []int{1, 7, 8, 16, 19, 32} {
			for _, slack := range []int{0, 8 * 40} {
				lds, ldd := cols+3, rows+2
				src := randomFloats(rng, (rows-1)*lds+cols+slack, 0)
				dst := make([]float32, (cols-1)*ldd+rows+5)
				for i := range dst {
					dst[i] = float32(math.NaN())
				}
				Transpose(dst, ldd, src, lds, rows, cols)
				for j := 0; j < cols; j++ {
					for i := 0; i < ldd && j*ldd+i < len(dst); i++ {
						got := dst[j*ldd+i]
						if i < rows {
							if want := src[i*lds+j]; got != want {
								t.Fatalf("rows=%d cols=%d slack=%d: dst[%d][%d] = %v, want %v", rows, cols, slack, j, i, got, want)
							}
						} else if !math.IsNaN(float64(got)) {
							t.Fatalf("rows=%d cols=%d slack=%d: dst[%d][%d] outside the matrix was written", rows, cols, slack, j, i)
						}
					}
				}
			}
		}
	}
}

func BenchmarkTranspose(b *testing.B) {
	src := randomFloats(rand.New(rand.NewPCG(11, 12)), 840*16+128, 0)
	dst := make([]float32, 16*840)
	b.SetBytes(4 * 838 * 16)
	for b.Loop() {
		Transpose(dst, 840, src, 16, 838, 16)
	}
}

func BenchmarkTransposeRow14(b *testing.B) {
	// One output row of a 14x14 map with 32 channels: 8 + 6 positions.
	src := randomFloats(rand.New(rand.NewPCG(11, 12)), 16*32+64, 0)
	dst := make([]float32, 32*196)
	for b.Loop() {
		Transpose(dst, 196, src, 32, 14, 32)
	}
}
