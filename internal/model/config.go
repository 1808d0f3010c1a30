package model

import (
	"fmt"
	"sort"
	"strings"
)

// Config describes an encoder and its projection head.
type Config struct {
	Arch       string // "resnet18" | "resnet34" | "resnet50"
	Stem       string // "cifar" (3x3 stride 1, no max-pool) | "imagenet" (7x7 stride 2 pad 3 + max-pool 3/2/1)
	Width      int    // base channels; 64 = torchvision
	InChannels int    // 1 or 3
	HeadLayers int    // 2 or 3 (projection MLP layers)
	HeadHidden int    // hidden size; 0 = encoder feature dim
	HeadOut    int    // output size
	HeadBN     bool   // BN-1D (+ReLU) after hidden linear layers (then those linears have no bias)
}

// Limits on the sizes accepted by Validate; they keep a typo from asking for
// terabytes of weights.
const (
	MaxWidth   = 1024
	MaxHeadDim = 1 << 16
)

// Stem names accepted in Config.Stem.
const (
	StemCIFAR    = "cifar"
	StemImageNet = "imagenet"
)

// archSpec is the block layout of one ResNet depth.
type archSpec struct {
	bottleneck bool
	blocks     [4]int
}

var archSpecs = map[string]archSpec{
	"resnet18": {bottleneck: false, blocks: [4]int{2, 2, 2, 2}},
	"resnet34": {bottleneck: false, blocks: [4]int{3, 4, 6, 3}},
	"resnet50": {bottleneck: true, blocks: [4]int{3, 4, 6, 3}},
}

// Archs returns the supported architecture names, sorted.
func Archs() []string {
	names := make([]string, 0, len(archSpecs))
	for n := range archSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// featureDim is the encoder output size of an architecture at a width.
func (s archSpec) featureDim(width int) int {
	if s.bottleneck {
		return 32 * width
	}
	return 8 * width
}

// Validate checks every field of the encoder and the projection head.
func (c Config) Validate() error {
	if err := c.ValidateEncoder(); err != nil {
		return err
	}
	return c.ValidateHead()
}

// ValidateEncoder checks the encoder fields (Arch, Stem, Width, InChannels)
// only; NewResNet needs nothing else.
func (c Config) ValidateEncoder() error {
	if _, ok := archSpecs[c.Arch]; !ok {
		return fmt.Errorf("model config: arch %q is not supported; use one of %s", c.Arch, strings.Join(Archs(), ", "))
	}
	if c.Stem != StemCIFAR && c.Stem != StemImageNet {
		return fmt.Errorf("model config: stem %q is not supported; use %q (small images) or %q (224 px images)", c.Stem, StemCIFAR, StemImageNet)
	}
	if c.Width < 1 || c.Width > MaxWidth {
		return fmt.Errorf("model config: width %d out of range; use 1..%d (64 = torchvision)", c.Width, MaxWidth)
	}
	if c.InChannels != 1 && c.InChannels != 3 {
		return fmt.Errorf("model config: in_channels %d is not supported; use 1 (grayscale) or 3 (RGB)", c.InChannels)
	}
	return nil
}

// ValidateHead checks the projection-head fields only.
func (c Config) ValidateHead() error {
	if c.HeadLayers != 2 && c.HeadLayers != 3 {
		return fmt.Errorf("model config: head_layers %d is not supported; use 2 or 3", c.HeadLayers)
	}
	if c.HeadHidden < 0 || c.HeadHidden > MaxHeadDim {
		return fmt.Errorf("model config: head_hidden %d out of range; use 0 (= encoder feature size) or 1..%d", c.HeadHidden, MaxHeadDim)
	}
	if c.HeadOut < 1 || c.HeadOut > MaxHeadDim {
		return fmt.Errorf("model config: head_out %d out of range; use 1..%d", c.HeadOut, MaxHeadDim)
	}
	return nil
}
