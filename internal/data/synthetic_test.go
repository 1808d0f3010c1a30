package data

import (
	"bytes"
	"image"
	"math"
	"slices"
	"testing"
)

func TestSyntheticDeterministic(t *testing.T) {
	a := mustOpen(t, Spec{Format: "synthetic", Seed: 7})
	b := mustOpen(t, Spec{Format: "synthetic", Seed: 7})
	other := mustOpen(t, Spec{Format: "synthetic", Seed: 8})
	test := mustOpen(t, Spec{Format: "synthetic", Seed: 7, Split: "test"})
	if a.Len() != DefaultSyntheticSize || test.Len() != DefaultSyntheticSize/4 {
		t.Fatalf("sizes %d, %d", a.Len(), test.Len())
	}
	if w, h := a.NativeSize(); w != 32 || h != 32 || a.Channels() != 3 {
		t.Errorf("native size %dx%d channels %d", w, h, a.Channels())
	}
	if !slices.Equal(a.Classes(), SyntheticClasses) {
		t.Errorf("classes %v", a.Classes())
	}
	pixels := func(ds Dataset, i int) []byte {
		img, err := ds.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		rgba, ok := img.(*image.RGBA)
		if !ok || rgba.Bounds() != image.Rect(0, 0, 32, 32) {
			t.Fatalf("image is %T %v", img, img.Bounds())
		}
		return rgba.Pix
	}
	for _, i := range []int{0, 1, 99, 2047} {
		pa := pixels(a, i)
		if !bytes.Equal(pa, pixels(a, i)) || !bytes.Equal(pa, pixels(b, i)) {
			t.Errorf("image %d differs between calls or opens with the same seed", i)
		}
		if bytes.Equal(pa, pixels(other, i)) {
			t.Errorf("image %d is the same for seeds 7 and 8", i)
		}
		if i < test.Len() && bytes.Equal(pa, pixels(test, i)) {
			t.Errorf("image %d is the same in train and test", i)
		}
		if a.Label(i) != b.Label(i) {
			t.Errorf("label %d differs between opens", i)
		}
	}
	if bytes.Equal(pixels(a, 0), pixels(a, 1)) {
		t.Error("images 0 and 1 are identical")
	}
	big := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 40, SyntheticImageSize: 64})
	if img, _ := big.Image(39); img.Bounds().Dx() != 64 || big.Len() != 40 {
		t.Errorf("size option: %v, len %d", img.Bounds(), big.Len())
	}
}

func TestSyntheticBalanced(t *testing.T) {
	for _, tc := range []struct {
		size, limit int
	}{{2048, 0}, {1000, 0}, {2048, 95}} {
		ds := mustOpen(t, Spec{Format: "synthetic", Seed: 3, SyntheticSize: tc.size, Limit: tc.limit})
		counts := make([]int, 10)
		for i := range ds.Len() {
			counts[ds.Label(i)]++
		}
		lo, hi := slices.Min(counts), slices.Max(counts)
		if hi-lo > 1 {
			t.Errorf("size %d limit %d: class counts %v are not balanced", tc.size, tc.limit, counts)
		}
		if first := ds.Label(0); first == ds.Label(10) && ds.Label(1) == ds.Label(11) && ds.Label(2) == ds.Label(12) {
			t.Errorf("labels repeat with period 10: %d %d %d", first, ds.Label(1), ds.Label(2))
		}
	}
}

// TestSyntheticClassesDifferByShape checks that the classes are told apart
// by shape, not colour: the mean colour carries no class information, while
// a shape statistic (foreground fraction per row/column) differs by class.
func TestSyntheticClassesDifferByShape(t *testing.T) {
	ds := mustOpen(t, Spec{Format: "synthetic", Seed: 11, SyntheticSize: 1000})
	meanR := make([]float64, 10)
	rowVar := make([]float64, 10) // variance of row means: high for horizontal stripes
	colVar := make([]float64, 10) // variance of column means: high for vertical stripes
	counts := make([]float64, 10)
	for i := range ds.Len() {
		img, err := ds.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		rgba := img.(*image.RGBA)
		luma := func(x, y int) float64 {
			p := rgba.RGBAAt(x, y)
			return 0.299*float64(p.R) + 0.587*float64(p.G) + 0.114*float64(p.B)
		}
		var rows, cols [32]float64
		var sumR float64
		for y := range 32 {
			for x := range 32 {
				v := luma(x, y)
				rows[y] += v / 32
				cols[x] += v / 32
				sumR += float64(rgba.RGBAAt(x, y).R)
			}
		}
		c := ds.Label(i)
		counts[c]++
		meanR[c] += sumR / 1024
		rowVar[c] += variance(rows[:])
		colVar[c] += variance(cols[:])
	}
	for c := range 10 {
		meanR[c] /= counts[c]
		rowVar[c] /= counts[c]
		colVar[c] /= counts[c]
	}
	if lo, hi := slices.Min(meanR), slices.Max(meanR); hi-lo > 20 {
		t.Errorf("mean red per class %v varies by %.1f: colour leaks the class", meanR, hi-lo)
	}
	if rowVar[synHStripes] < 3*colVar[synHStripes] {
		t.Errorf("horizontal stripes: row variance %.1f not well above column variance %.1f", rowVar[synHStripes], colVar[synHStripes])
	}
	if colVar[synVStripes] < 3*rowVar[synVStripes] {
		t.Errorf("vertical stripes: column variance %.1f not well above row variance %.1f", colVar[synVStripes], rowVar[synVStripes])
	}
}

func variance(v []float64) float64 {
	var m, s float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return s / float64(len(v))
}

func TestSyntheticShapes(t *testing.T) {
	// A noise-free render of each class at a fixed place distinguishes them.
	seen := map[string]int{}
	for class := range synClasses {
		sh := synthShape{class: class, cx: 16, cy: 16, r: 9, cos: 1, width: 3, period: 6, diagSign: 1}
		if class == synRing {
			sh.width = 5
		}
		for k := range 3 {
			a := -math.Pi/2 + 2*math.Pi*float64(k)/3
			sh.tri[k] = [2]float64{16 + 10*math.Cos(a), 16 + 10*math.Sin(a)}
		}
		var mask []byte
		fg := 0
		for y := range 32 {
			for x := range 32 {
				b := byte(0)
				if sh.inside(float64(x)+0.5, float64(y)+0.5) {
					b, fg = 1, fg+1
				}
				mask = append(mask, b)
			}
		}
		if fg < 40 || fg > 1024-40 {
			t.Errorf("class %s covers %d of 1024 pixels", SyntheticClasses[class], fg)
		}
		if prev, dup := seen[string(mask)]; dup {
			t.Errorf("classes %s and %s render the same mask", SyntheticClasses[prev], SyntheticClasses[class])
		}
		seen[string(mask)] = class
	}
}

func TestSyntheticErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want []string
	}{
		{Spec{Format: "synthetic", SyntheticImageSize: 4}, []string{"image size 4", "data.image_size"}},
		{Spec{Format: "synthetic", SyntheticSize: -5}, []string{"size -5", "data.synthetic_size"}},
		{Spec{Format: "synthetic", SyntheticSize: 3, Split: "test"}, []string{"test split", "at least 4"}},
		{Spec{Format: "synthetic", Split: "unlabeled"}, []string{`"unlabeled"`, "train, test"}},
	}
	for _, tc := range tests {
		_, err := Open(tc.spec)
		wantErr(t, err, tc.want...)
	}
	ds := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 20})
	if _, err := ds.Image(20); err == nil {
		t.Error("Image(20) of 20: no error")
	}
}
