package cpu

import (
	"fmt"
	"math"
	"simclr/internal/benchcmp"
	"slices"
	"testing"
	"time"

	"simclr/internal/gemm"
	"simclr/internal/gradcheck"
)

// TestWinoWeightsSkewed: the transformed weights written with the skewed
// matrix distance (Cout*Cin + winoSkew) hold exactly the values of the
// unskewed layout, the skew floats stay unwritten (NaN-filled first), and
// the 16 packed operands are bit-identical; for case (a)'s channel counts
// and odd shapes.
func TestWinoWeightsSkewed(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct{ cout, cin int }{{128, 128}, {256, 256}, {3, 5}, {1, 1}, {97, 30}} {
		t.Run(fmt.Sprintf("%dx%d", c.cout, c.cin), func(t *testing.T) {
			ws := gradcheck.RandomVector(c.cout*c.cin*9, 15)
			plane, psz := c.cout*c.cin, gemm.PackedASize(c.cout, c.cin)
			run := func(us int) ([]float32, []float32) {
				u := slices.Repeat([]float32{nan}, 16*us)
				pbuf := slices.Repeat([]float32{nan}, 16*psz)
				for xi, p := range winoPackedWeights(ws, u, us, pbuf, c.cout, c.cin) {
					if p == nil || p.Rows() != c.cout || p.Cols() != c.cin {
						t.Fatalf("us=%d: packed matrix %d is %v", us, xi, p)
					}
				}
				return u, pbuf
			}
			wantU, wantP := run(plane)
			gotU, gotP := run(plane + winoSkew)
			for xi := 0; xi < 16; xi++ {
				w := wantU[xi*plane : (xi+1)*plane]
				g := gotU[xi*(plane+winoSkew) : (xi+1)*(plane+winoSkew)]
				if !slices.Equal(bits(g[:plane]), bits(w)) {
					t.Fatalf("matrix %d differs between the skewed and unskewed layouts", xi)
				}
				for _, v := range w {
					if math.IsNaN(float64(v)) {
						t.Fatalf("matrix %d: a value was not written", xi)
					}
				}
				for j, v := range g[plane:] {
					if !math.IsNaN(float64(v)) {
						t.Fatalf("matrix %d: skew float %d written (%v)", xi, j, v)
					}
				}
			}
			if !slices.Equal(bits(gotP), bits(wantP)) {
				t.Fatal("packed operands differ between the skewed and unskewed layouts")
			}
		})
	}
}

// BenchmarkWinoWeights transforms and packs case (a)'s Winograd weights
// (128-512 channels) with the matrices Cout*Cin floats apart (old) and
// Cout*Cin + winoSkew apart (new), alternating call by call (A B B A);
// median ms of each and old/new.
func BenchmarkWinoWeights(b *testing.B) {
	for _, ch := range []int{128, 256, 512} {
		b.Run(fmt.Sprintf("c%d", ch), func(b *testing.B) {
			plane := ch * ch
			ws := gradcheck.RandomVector(plane*9, 16)
			u := make([]float32, 16*(plane+winoSkew))
			pbuf := make([]float32, 16*gemm.PackedASize(ch, ch))
			run := func(us int) time.Duration {
				start := time.Now()
				winoPackedWeights(ws, u, us, pbuf, ch, ch)
				return time.Since(start)
			}
			run(plane)
			run(plane + winoSkew)
			benchcmp.Alternate(b, "ms", func() float64 { return run(plane).Seconds() * 1e3 }, func() float64 { return run(plane+winoSkew).Seconds() * 1e3 })
		})
	}
}
