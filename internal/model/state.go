package model

import (
	"fmt"
	"math"
	"strings"

	"simclr/internal/backend"
	"simclr/internal/safetensors"
	"simclr/internal/tensor"
)

// StateEntry is one state_dict entry: a float32 tensor (weights, biases,
// running statistics) or an int64 scalar (num_batches_tracked). Exactly one
// of F32 and I64 is set; both point at the live model state.
type StateEntry struct {
	Name string
	F32  *tensor.Tensor
	I64  *int64
}

// Shape is the entry's shape; an int64 scalar has shape [] like PyTorch's.
func (e StateEntry) Shape() []int {
	if e.F32 != nil {
		return e.F32.Shape.Clone()
	}
	return []int{}
}

// DType is "F32" or "I64", the safetensors dtype of the entry.
func (e StateEntry) DType() string {
	if e.F32 != nil {
		return "F32"
	}
	return "I64"
}

// maxListedProblems bounds how many mismatches one load error lists.
const maxListedProblems = 12

// StateTensors downloads entries into safetensors tensors named
// prefix+entry name, in order.
func StateTensors(b backend.Backend, entries []StateEntry, prefix string) ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(entries))
	for _, e := range entries {
		t := safetensors.Tensor{Name: prefix + e.Name, DType: e.DType(), Shape: e.Shape()}
		switch {
		case e.F32 != nil:
			t.F32 = make([]float32, e.F32.Numel())
			if err := b.Download(t.F32, e.F32); err != nil {
				return nil, fmt.Errorf("download %s: %w", t.Name, err)
			}
		case e.I64 != nil:
			t.I64 = []int64{*e.I64}
		default:
			return nil, fmt.Errorf("state entry %s has no value", e.Name)
		}
		out = append(out, t)
	}
	return out, nil
}

// LoadStateDict copies a state dict from f into r. The tensors are named
// prefix + torchvision name ("" for an encoder checkpoint, e.g. "encoder."
// inside a larger file); tensors outside prefix are ignored. The load is
// strict: every missing tensor, every unexpected one under prefix, every
// dtype or shape mismatch and every non-finite value is reported by name, and
// nothing is changed unless all of them match.
func (r *ResNet) LoadStateDict(f *safetensors.File, prefix string) error {
	if err := loadStateDict(r.b, r.StateDict(), f, prefix); err != nil {
		return fmt.Errorf("load %s %s-stem width-%d encoder: %w", r.cfg.Arch, r.cfg.Stem, r.cfg.Width, err)
	}
	return nil
}

// LoadStateDict copies the head's state from f strictly, like
// ResNet.LoadStateDict; the names are prefix + "projector.…".
func (p *Projector) LoadStateDict(f *safetensors.File, prefix string) error {
	if err := loadStateDict(p.b, p.StateDict(), f, prefix); err != nil {
		return fmt.Errorf("load projector: %w", err)
	}
	return nil
}

func loadStateDict(b backend.Backend, entries []StateEntry, f *safetensors.File, prefix string) error {
	if f == nil {
		return fmt.Errorf("state dict file is nil")
	}
	var problems []string
	want := make(map[string]bool, len(entries))
	found := make([]*safetensors.Tensor, len(entries))
	for i, e := range entries {
		name := prefix + e.Name
		want[name] = true
		t, ok := f.Get(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("missing tensor %q", name))
			continue
		}
		if p := checkEntry(e, t, name); p != "" {
			problems = append(problems, p)
			continue
		}
		found[i] = t
	}
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, prefix) && !want[t.Name] {
			problems = append(problems, fmt.Sprintf("unexpected tensor %q", t.Name))
		}
	}
	if len(problems) > 0 {
		n := len(problems)
		if n > maxListedProblems {
			problems = append(problems[:maxListedProblems], fmt.Sprintf("and %d more", n-maxListedProblems))
		}
		return fmt.Errorf("state dict does not match the model (%d problems; check that the checkpoint was written for this arch, stem, width and in_channels): %s",
			n, strings.Join(problems, "; "))
	}
	for i, e := range entries {
		t := found[i]
		if e.F32 != nil {
			if err := b.Upload(e.F32, t.F32); err != nil {
				return fmt.Errorf("upload %s: %w", t.Name, err)
			}
		} else {
			*e.I64 = t.I64[0]
		}
	}
	return nil
}

// checkEntry returns a description of why t cannot be loaded into e, or "".
func checkEntry(e StateEntry, t *safetensors.Tensor, name string) string {
	if t.DType != e.DType() {
		return fmt.Sprintf("tensor %q has dtype %s, want %s", name, t.DType, e.DType())
	}
	if e.F32 == nil {
		// num_batches_tracked: a scalar, [] in PyTorch ([1] accepted too).
		if !(len(t.Shape) == 0 || (len(t.Shape) == 1 && t.Shape[0] == 1)) || len(t.I64) != 1 {
			return fmt.Sprintf("tensor %q has shape %v, want [] (a scalar)", name, tensor.Shape(t.Shape))
		}
		if t.I64[0] < 0 {
			return fmt.Sprintf("tensor %q is %d, want a count >= 0", name, t.I64[0])
		}
		return ""
	}
	if !tensor.Shape(t.Shape).Equal(e.F32.Shape) {
		return fmt.Sprintf("tensor %q has shape %v, want %v", name, tensor.Shape(t.Shape), e.F32.Shape)
	}
	if len(t.F32) != e.F32.Numel() {
		return fmt.Sprintf("tensor %q holds %d values, its shape %v needs %d", name, len(t.F32), e.F32.Shape, e.F32.Numel())
	}
	isVar := strings.HasSuffix(name, ".running_var")
	for j, v := range t.F32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Sprintf("tensor %q has the non-finite value %v at index %d; the checkpoint is corrupt or training diverged", name, v, j)
		}
		if isVar && v < 0 {
			return fmt.Sprintf("tensor %q has the negative variance %v at index %d; the checkpoint is corrupt", name, v, j)
		}
	}
	return ""
}
