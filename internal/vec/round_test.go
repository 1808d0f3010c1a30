package vec

import (
	"math"
	"math/rand/v2"
	"testing"

	"simclr/internal/backend"
)

// roundInputs are special values (zeros, subnormals, ties of both formats,
// the largest finite values, infinities, quiet and signalling NaNs) and
// random bit patterns, n in all.
func roundInputs(n int) []float32 {
	special := []uint32{0, 0x80000000, 1, 0x8000, 0x7fff, 0x00018000, 0x00800000, 0x3f808000, 0x3f818000,
		0xbf818000, 0x3f801000, 0x3f803000, 0xbf801000, 0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7ff000,
		0x7f800000, 0xff800000, 0x7f800001, 0xff800001, 0xffc00000, 0x7fffffff, 0x7f80f000, 0x7f801000}
	rng := rand.New(rand.NewPCG(3, 4))
	v := make([]float32, n)
	for i := range v {
		if i < len(special) {
			v[i] = math.Float32frombits(special[i])
		} else {
			v[i] = math.Float32frombits(rng.Uint32())
		}
	}
	return v
}

// TestRoundMatchesScalar: RoundBF16 and RoundTF32 (the AVX2 bodies and the
// Go tail) equal backend.RoundBF16 and backend.RoundTF32 bit for bit on
// every length from 0 to 40 and on 2^16 random patterns, and leave dst
// past len(src) alone.
func TestRoundMatchesScalar(t *testing.T) {
	tests := []struct {
		name   string
		vec    func(dst, src []float32)
		scalar func(float32) float32
	}{
		{"bf16", RoundBF16, backend.RoundBF16},
		{"tf32", RoundTF32, backend.RoundTF32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lengths := []int{1 << 16}
			for n := 0; n <= 40; n++ {
				lengths = append(lengths, n)
			}
			for _, n := range lengths {
				for off := 0; off < 25 && off+n <= 1<<16; off += 8 {
					src := roundInputs(1 << 16)[off : off+n]
					dst := make([]float32, n+1)
					dst[n] = 42
					tt.vec(dst, src)
					for i, v := range src {
						if got, want := math.Float32bits(dst[i]), math.Float32bits(tt.scalar(v)); got != want {
							t.Fatalf("n=%d: %#08x rounds to %#08x, scalar %#08x", n, math.Float32bits(v), got, want)
						}
					}
					if dst[n] != 42 {
						t.Fatalf("n=%d: wrote past len(src)", n)
					}
				}
			}
		})
	}
}

func BenchmarkRound(b *testing.B) {
	src := roundInputs(1 << 20)
	dst := make([]float32, len(src))
	for _, bc := range []struct {
		name string
		f    func(dst, src []float32)
	}{{"bf16", RoundBF16}, {"bf16_go", roundBF16Go}, {"tf32", RoundTF32}, {"tf32_go", roundTF32Go}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)) * 4)
			for b.Loop() {
				bc.f(dst, src)
			}
		})
	}
}
