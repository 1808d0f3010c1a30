package optim

import (
	"math"
	"strings"
	"testing"
)

func TestScheduleValues(t *testing.T) {
	s := Schedule{BaseLR: 0.8, WarmupSteps: 10, TotalSteps: 110}
	tests := []struct {
		step int
		want float64
	}{
		{-1, 0},
		{0, 0},
		{5, 0.4},
		{10, 0.8}, // end of warm-up: base
		{60, 0.4}, // cosine midpoint: base/2
		{35, 0.8 * 0.5 * (1 + math.Cos(math.Pi/4))},
		{110, 0}, // end
		{500, 0}, // past the end
	}
	for _, tc := range tests {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LR(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
	if last := s.LR(109); !(last > 0 && last < 1e-3) {
		t.Errorf("LR(109) = %v, want a small positive value approaching 0", last)
	}
}

func TestScheduleMonotone(t *testing.T) {
	for _, s := range []Schedule{
		{BaseLR: 1, WarmupSteps: 7, TotalSteps: 50},
		{BaseLR: 0.3, WarmupSteps: 0, TotalSteps: 13},
		{BaseLR: 2, WarmupSteps: 20, TotalSteps: 20},
	} {
		for step := 1; step <= s.TotalSteps; step++ {
			prev, cur := s.LR(step-1), s.LR(step)
			if step == s.TotalSteps {
				if cur != 0 {
					t.Errorf("%+v: LR(total) = %v, want 0", s, cur)
				}
				continue
			}
			if step <= s.WarmupSteps && cur < prev {
				t.Errorf("%+v: warm-up decreases at step %d: %v -> %v", s, step, prev, cur)
			}
			if step > s.WarmupSteps && cur > prev {
				t.Errorf("%+v: decay increases at step %d: %v -> %v", s, step, prev, cur)
			}
			if cur < 0 || cur > s.BaseLR {
				t.Errorf("%+v: LR(%d) = %v outside [0, base]", s, step, cur)
			}
		}
	}
	if got := (Schedule{BaseLR: 0.3, TotalSteps: 13}).LR(0); got != 0.3 {
		t.Errorf("no warm-up: LR(0) = %v, want base 0.3", got)
	}
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string
	}{
		{Schedule{BaseLR: 1, WarmupSteps: 1, TotalSteps: 2}, ""},
		{Schedule{BaseLR: 0, TotalSteps: 2}, "base learning rate"},
		{Schedule{BaseLR: math.NaN(), TotalSteps: 2}, "base learning rate"},
		{Schedule{BaseLR: 1, TotalSteps: 0}, "total steps 0"},
		{Schedule{BaseLR: 1, WarmupSteps: 5, TotalSteps: 4}, "warm-up steps 5"},
		{Schedule{BaseLR: 1, WarmupSteps: -1, TotalSteps: 4}, "warm-up steps -1"},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: error %v, want %q", tc.s, err, tc.want)
		}
	}
}

func TestScaleLR(t *testing.T) {
	tests := []struct {
		base  float64
		batch int
		rule  string
		want  float64
		err   string
	}{
		{0.3, 4096, "linear", 4.8, ""},
		{0.3, 256, "linear", 0.3, ""},
		{0.075, 4096, "sqrt", 4.8, ""},
		{0.1, 100, "none", 0.1, ""},
		{0.1, 0, "linear", 0, "batch size 0"},
		{0, 256, "linear", 0, "base learning rate"},
		{math.Inf(1), 256, "linear", 0, "base learning rate"},
		{0.1, 256, "Linear", 0, `unknown rule "Linear"`},
	}
	for _, tc := range tests {
		got, err := ScaleLR(tc.base, tc.batch, tc.rule)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ScaleLR(%v, %d, %q): error %v, want %q", tc.base, tc.batch, tc.rule, err, tc.err)
			}
			continue
		}
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ScaleLR(%v, %d, %q) = %v, %v; want %v", tc.base, tc.batch, tc.rule, got, err, tc.want)
		}
	}
}
