package model

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// keyLine is one line of testdata/*_keys.txt (written from torchvision by
// testdata/gen_keys.py).
type keyLine struct {
	name, dtype string
	shape       []int
}

func readKeys(t *testing.T, file string) []keyLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []keyLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("%s: bad line %q", file, line)
		}
		k := keyLine{name: fields[0], dtype: fields[1], shape: []int{}}
		if fields[2] != "scalar" {
			for _, d := range strings.Split(fields[2], ",") {
				n, err := strconv.Atoi(d)
				if err != nil {
					t.Fatalf("%s: bad shape in %q", file, line)
				}
				k.shape = append(k.shape, n)
			}
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func isBuffer(name string) bool {
	return strings.HasSuffix(name, ".running_mean") || strings.HasSuffix(name, ".running_var") ||
		strings.HasSuffix(name, ".num_batches_tracked")
}

// TestTorchvisionNames compares the state dict of width-64 ImageNet-stem
// encoders with torchvision's key lists, entry by entry, and checks the
// parameter lists and counts (torchvision without fc: resnet18 11,176,512,
// resnet50 23,508,032 parameters; 120 and 318 state_dict entries, 60 and 159
// parameters — 122/320 and 62/161 with fc.weight and fc.bias).
func TestTorchvisionNames(t *testing.T) {
	tests := []struct {
		arch            string
		entries, params int
		paramCount      int
	}{
		{"resnet18", 120, 60, 11_176_512},
		{"resnet50", 318, 159, 23_508_032},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			want := readKeys(t, tt.arch+"_keys.txt")
			if len(want) != tt.entries {
				t.Fatalf("testdata lists %d entries, want %d", len(want), tt.entries)
			}
			b := newBackend(t)
			r, err := NewResNet(b, Config{Arch: tt.arch, Stem: StemImageNet, Width: 64, InChannels: 3}, 1)
			if err != nil {
				t.Fatal(err)
			}
			sd := r.StateDict()
			if len(sd) != len(want) {
				t.Errorf("StateDict has %d entries, torchvision %d", len(sd), len(want))
			}
			for i := 0; i < len(sd) && i < len(want); i++ {
				got := fmt.Sprintf("%s %s %v", sd[i].Name, sd[i].DType(), sd[i].Shape())
				exp := fmt.Sprintf("%s %s %v", want[i].name, want[i].dtype, want[i].shape)
				if got != exp {
					t.Fatalf("entry %d: got %q, torchvision %q", i, got, exp)
				}
				if (sd[i].F32 == nil) == (sd[i].I64 == nil) {
					t.Fatalf("entry %s: exactly one of F32 and I64 must be set", sd[i].Name)
				}
			}
			ps := r.Params()
			if len(ps) != tt.params {
				t.Errorf("Params has %d entries, want %d", len(ps), tt.params)
			}
			var wantParams []string
			for _, k := range want {
				if !isBuffer(k.name) {
					wantParams = append(wantParams, k.name)
				}
			}
			count := 0
			for i, p := range ps {
				if i < len(wantParams) && p.Name != wantParams[i] {
					t.Fatalf("param %d is %s, torchvision %s", i, p.Name, wantParams[i])
				}
				if !p.Grad.Shape.Equal(p.Value.Shape) {
					t.Errorf("%s: grad shape %v != value shape %v", p.Name, p.Grad.Shape, p.Value.Shape)
				}
				bn := strings.Contains(p.Name, "bn") || strings.HasSuffix(p.Name, "downsample.1.weight") ||
					strings.HasSuffix(p.Name, "downsample.1.bias")
				if p.NoDecay != bn {
					t.Errorf("%s: NoDecay = %v, want %v", p.Name, p.NoDecay, bn)
				}
				count += p.Value.Numel()
			}
			if count != tt.paramCount {
				t.Errorf("parameter count %d, want %d", count, tt.paramCount)
			}
			lastBN := want[len(want)-5] // weight of the last BN, then bias and 3 buffers
			if r.FeatureDim() != lastBN.shape[0] {
				t.Errorf("FeatureDim %d, last BN %s has %d channels", r.FeatureDim(), lastBN.name, lastBN.shape[0])
			}
		})
	}
}

// TestArchLayouts checks block counts, the CIFAR stem and feature sizes of
// every arch at a small width.
func TestArchLayouts(t *testing.T) {
	tests := []struct {
		arch, stem string
		entries    int
		lastBlock  string
		conv1      []int
		featDim    int
	}{
		// stem 6 + 8 basic blocks (12 entries, 18 with downsample; 3 downsample)
		{"resnet18", StemCIFAR, 6 + 5*12 + 3*18, "layer4.1.", []int{4, 3, 3, 3}, 32},
		// stem 6 + 16 basic blocks, 3 downsample
		{"resnet34", StemImageNet, 6 + 13*12 + 3*18, "layer4.2.", []int{4, 3, 7, 7}, 32},
		// stem 6 + 16 bottlenecks (18 entries, 24 with downsample; 4 downsample)
		{"resnet50", StemCIFAR, 6 + 12*18 + 4*24, "layer4.2.", []int{4, 3, 3, 3}, 128},
	}
	for _, tt := range tests {
		t.Run(tt.arch+"/"+tt.stem, func(t *testing.T) {
			b := newBackend(t)
			r, err := NewResNet(b, Config{Arch: tt.arch, Stem: tt.stem, Width: 4, InChannels: 3}, 3)
			if err != nil {
				t.Fatal(err)
			}
			sd := r.StateDict()
			if len(sd) != tt.entries {
				t.Errorf("%d state entries, want %d", len(sd), tt.entries)
			}
			if !strings.HasPrefix(sd[len(sd)-1].Name, tt.lastBlock) {
				t.Errorf("last entry %s, want it in %s", sd[len(sd)-1].Name, tt.lastBlock)
			}
			if got := sd[0].Shape(); fmt.Sprint(got) != fmt.Sprint(tt.conv1) {
				t.Errorf("conv1.weight shape %v, want %v", got, tt.conv1)
			}
			if r.FeatureDim() != tt.featDim {
				t.Errorf("FeatureDim %d, want %d", r.FeatureDim(), tt.featDim)
			}
			x := randomInput(t, b, 1, 2, 3, 16, 16)
			f, err := r.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(f.Shape) != fmt.Sprint([]int{2, tt.featDim}) {
				t.Errorf("features shape %v, want [2 %d]", f.Shape, tt.featDim)
			}
		})
	}
}

// TestProjectorNames checks the nn.Sequential naming of every head layout.
func TestProjectorNames(t *testing.T) {
	tests := []struct {
		layers int
		bn     bool
		want   []string
	}{
		{2, false, []string{"projector.0.weight [16 32]", "projector.0.bias [16]", "projector.2.weight [8 16]", "projector.2.bias [8]"}},
		{2, true, []string{"projector.0.weight [16 32]", "projector.1.weight [16]", "projector.1.bias [16]",
			"projector.1.running_mean [16]", "projector.1.running_var [16]", "projector.1.num_batches_tracked []",
			"projector.3.weight [8 16]", "projector.3.bias [8]"}},
		{3, false, []string{"projector.0.weight [16 32]", "projector.0.bias [16]", "projector.2.weight [16 16]",
			"projector.2.bias [16]", "projector.4.weight [8 16]", "projector.4.bias [8]"}},
		{3, true, []string{"projector.0.weight [16 32]", "projector.1.weight [16]", "projector.1.bias [16]",
			"projector.1.running_mean [16]", "projector.1.running_var [16]", "projector.1.num_batches_tracked []",
			"projector.3.weight [16 16]", "projector.4.weight [16]", "projector.4.bias [16]",
			"projector.4.running_mean [16]", "projector.4.running_var [16]", "projector.4.num_batches_tracked []",
			"projector.6.weight [8 16]", "projector.6.bias [8]"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("layers%d_bn%v", tt.layers, tt.bn), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.HeadLayers, cfg.HeadBN = tt.layers, tt.bn
			p, err := NewProjector(newBackend(t), 32, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range p.StateDict() {
				got = append(got, fmt.Sprintf("%s %v", e.Name, e.Shape()))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("state dict\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, prm := range p.Params() {
				if isBuffer(prm.Name) {
					t.Errorf("buffer %s listed as a parameter", prm.Name)
				}
				wantNoDecay := strings.HasSuffix(prm.Name, ".bias") || prm.Value.Dim(1) == 0
				if prm.NoDecay != wantNoDecay {
					t.Errorf("%s: NoDecay %v, want %v", prm.Name, prm.NoDecay, wantNoDecay)
				}
			}
		})
	}
}

func TestProjectorHiddenDefaultsToInput(t *testing.T) {
	cfg := tinyConfig()
	cfg.HeadHidden = 0
	p, err := NewProjector(newBackend(t), 24, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Params()[0].Value.Shape; fmt.Sprint(got) != "[24 24]" {
		t.Fatalf("first linear shape %v, want [24 24]", got)
	}
	if p.InDim() != 24 || p.OutDim() != cfg.HeadOut {
		t.Fatalf("InDim %d OutDim %d", p.InDim(), p.OutDim())
	}
}
