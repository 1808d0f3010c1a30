package optim

import (
	"fmt"
	"math"
)

// Schedule is a learning-rate schedule counted in optimizer steps: a linear
// warm-up from 0 to BaseLR over WarmupSteps, then a cosine decay from BaseLR
// to 0 at TotalSteps (SimCLR's schedule, applied per step).
type Schedule struct {
	BaseLR      float64
	WarmupSteps int
	TotalSteps  int
}

// LR returns the learning rate for step (counted from 0): BaseLR*step/W
// during warm-up (0 at step 0, BaseLR at step W), then
// BaseLR*(1+cos(pi*(step-W)/(T-W)))/2, which is BaseLR/2 half-way and 0 from
// step T on. Negative steps give 0.
func (s Schedule) LR(step int) float64 {
	switch {
	case step < 0 || step >= s.TotalSteps:
		return 0
	case step < s.WarmupSteps:
		return s.BaseLR * float64(step) / float64(s.WarmupSteps)
	}
	progress := float64(step-s.WarmupSteps) / float64(s.TotalSteps-s.WarmupSteps)
	return s.BaseLR * 0.5 * (1 + math.Cos(math.Pi*progress))
}

// Validate checks that the schedule can be meant: BaseLR finite and > 0,
// 0 <= WarmupSteps <= TotalSteps, TotalSteps >= 1.
func (s Schedule) Validate() error {
	if math.IsNaN(s.BaseLR) || math.IsInf(s.BaseLR, 0) || s.BaseLR <= 0 {
		return fmt.Errorf("schedule: base learning rate %v must be finite and > 0", s.BaseLR)
	}
	if s.TotalSteps < 1 {
		return fmt.Errorf("schedule: total steps %d must be >= 1", s.TotalSteps)
	}
	if s.WarmupSteps < 0 || s.WarmupSteps > s.TotalSteps {
		return fmt.Errorf("schedule: warm-up steps %d must be in [0, total steps %d]; use fewer warm-up epochs", s.WarmupSteps, s.TotalSteps)
	}
	return nil
}

// ScaleLR scales a base learning rate with the batch size B by rule:
// "linear" gives base*B/256 (SimCLR with LARS), "sqrt" gives base*sqrt(B),
// "none" returns base unchanged.
func ScaleLR(base float64, batch int, rule string) (float64, error) {
	if math.IsNaN(base) || math.IsInf(base, 0) || base <= 0 {
		return 0, fmt.Errorf("scale lr: base learning rate %v must be finite and > 0", base)
	}
	if batch < 1 {
		return 0, fmt.Errorf("scale lr: batch size %d must be >= 1", batch)
	}
	switch rule {
	case "linear":
		return base * float64(batch) / 256, nil
	case "sqrt":
		return base * math.Sqrt(float64(batch)), nil
	case "none":
		return base, nil
	}
	return 0, fmt.Errorf("scale lr: unknown rule %q; use linear, sqrt or none", rule)
}
