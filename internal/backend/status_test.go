package backend

import (
	"math"
	"strings"
	"testing"

	"simclr/internal/tensor"
)

// TestStatusRecordRoundTrip: EncodeStatus keeps the first failure only and
// DecodeStatus gives it back exactly (float64 values beyond float32's
// range and NaN included); a clear record decodes to nil and a garbled one
// is an error.
func TestStatusRecordRoundTrip(t *testing.T) {
	for _, c := range []NonFiniteError{
		{Index: 0, What: "gradient", Value: math.NaN()},
		{Index: 3, What: "value", Value: math.Inf(1)},
		{Index: 12, What: "decayed gradient", Value: math.Inf(-1)},
		{Index: 5, What: "trust ratio", Value: 1e300, PP: 1e300, DD: 1e-300},
	} {
		t.Run(c.What, func(t *testing.T) {
			w := make([]float32, StatusWords)
			if f, err := DecodeStatus(w); f != nil || err != nil {
				t.Fatalf("clear record decodes to %+v, %v", f, err)
			}
			e := c
			EncodeStatus(w, 41, &e)
			EncodeStatus(w, 42, &NonFiniteError{Index: 1, What: "gradient", Value: 1})
			f, err := DecodeStatus(w)
			if err != nil || f == nil {
				t.Fatalf("decode: %+v, %v", f, err)
			}
			same := func(a, b float64) bool {
				return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
			}
			if f.Step != 41 || f.Index != c.Index || f.What != c.What || !same(f.Value, c.Value) || !same(f.PP, c.PP) || !same(f.DD, c.DD) {
				t.Fatalf("decoded %+v, want step 41 and %+v", f, c)
			}
		})
	}
	for name, w := range map[string][]float32{
		"flag":  {math.Float32frombits(7), 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"code":  {math.Float32frombits(1), math.Float32frombits(3), 0, math.Float32frombits(9), 0, 0, 0, 0, 0, 0},
		"short": {0, 0},
	} {
		if _, err := DecodeStatus(w); err == nil {
			t.Errorf("%s: a garbled record decodes without an error", name)
		}
	}
}

func TestDeferredCheckValidate(t *testing.T) {
	st := &tensor.Tensor{Shape: tensor.Shape{StatusWords + 2}}
	for _, c := range []struct {
		d    *DeferredCheck
		want string
	}{
		{nil, ""},
		{&DeferredCheck{Status: st, At: 2, Step: 1}, ""},
		{&DeferredCheck{At: 0, Step: 1}, "without a status tensor"},
		{&DeferredCheck{Status: st, At: 3, Step: 1}, "outside the status tensor"},
		{&DeferredCheck{Status: st, At: -1, Step: 1}, "outside the status tensor"},
		{&DeferredCheck{Status: st, At: 0, Step: 0}, "count from 1"},
	} {
		err := c.d.Validate("op")
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: error %v, want %q", c.d, err, c.want)
		}
	}
	if err := CheckMomentumStep(tensor.Shape{2}, tensor.Shape{2}, tensor.Shape{2}, MomentumOpts{TrustRatio: 1, Deferred: &DeferredCheck{Status: st, Step: 1}}); err == nil || !strings.Contains(err.Error(), "MomentumStepMulti") {
		t.Errorf("MomentumStep with a deferred check: %v, want a pointer to MomentumStepMulti", err)
	}
}
