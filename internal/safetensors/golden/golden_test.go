package golden

import (
	"math"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tol := Tol{RTol: 1e-3, ATol: 1e-4}
	cases := []struct {
		name      string
		got, want []float32
		errSubstr string // "" means the comparison must pass
	}{
		{"equal", []float32{1, -2, 0}, []float32{1, -2, 0}, ""},
		{"within rtol", []float32{1000.5}, []float32{1000}, ""},
		{"outside rtol", []float32{1002}, []float32{1000}, "1 of 1 values"},
		// atol scales with max|want| = 100: 0.009 <= 1e-4*100 passes...
		{"atol scaled", []float32{100, 0.009}, []float32{100, 0}, ""},
		// ...but 0.011 does not.
		{"atol scaled fail", []float32{100, 0.011}, []float32{100, 0}, "[1] got"},
		// scale never drops below 1.
		{"small tensor", []float32{2e-4}, []float32{0}, "outside"},
		{"length", []float32{1}, []float32{1, 2}, "got 1 values, want 2"},
		{"nan", []float32{float32(math.NaN())}, []float32{1}, "non-finite"},
		{"inf", []float32{float32(math.Inf(1))}, []float32{1}, "non-finite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.got, c.want, tol)
			if c.errSubstr == "" {
				if err != nil {
					t.Fatalf("unexpected failure: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errSubstr) {
				t.Fatalf("error %v, want one containing %q", err, c.errSubstr)
			}
		})
	}
}

func TestRelErrNormAndNorm(t *testing.T) {
	if got := RelErrNorm([]float32{3, 4}, []float32{3, 4}); got != 0 {
		t.Errorf("RelErrNorm(equal) = %v", got)
	}
	if got := RelErrNorm([]float32{3, 5}, []float32{3, 4}); math.Abs(got-0.2) > 1e-12 {
		t.Errorf("RelErrNorm = %v, want 0.2", got)
	}
	if got := RelErrNorm([]float32{1}, []float32{0}); !math.IsInf(got, 1) {
		t.Errorf("RelErrNorm against zero = %v, want +Inf", got)
	}
	if got := Norm([]float32{3, 4}); got != 5 {
		t.Errorf("Norm = %v, want 5", got)
	}
}

func TestOpenReadsGeneratedFile(t *testing.T) {
	f := Open(t, "format_check.safetensors")
	if got := f.Scalar("f32_scalar"); got != 3.25 {
		t.Errorf("f32_scalar = %v, want 3.25", got)
	}
	if got := f.I64("i64_scalar"); len(got) != 1 || got[0] != 42 {
		t.Errorf("i64_scalar = %v, want [42]", got)
	}
	if got := f.Shape("f32_matrix"); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("shape = %v, want [3 4]", got)
	}
	var m map[string][]int
	f.Meta("json", &m)
	if len(m["a"]) != 2 {
		t.Errorf("metadata json = %v", m)
	}
	if names := f.Names("i64_"); len(names) != 2 {
		t.Errorf("Names(i64_) = %v", names)
	}
}
