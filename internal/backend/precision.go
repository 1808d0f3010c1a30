package backend

import (
	"fmt"
	"math"
)

// Precision is the number format of the operands of the matrix products
// (convolutions and linear layers; the similarity matrix, batch norm, L2
// normalisation, the softmax, the loss and every optimizer state stay
// fp32). Products are exact in fp32 for both reduced formats and they are
// accumulated in fp32, so a backend in TF32 or BF16 computes
// sum(Round(a)*Round(b)) in fp32, the same as a tensor-core mma.sync.
type Precision int

const (
	// FP32 multiplies the fp32 operands as they are.
	FP32 Precision = iota
	// TF32 rounds each operand to TF32 (10 mantissa bits) to nearest, ties
	// away from zero, as cvt.rna.tf32.f32 does.
	TF32
	// BF16 rounds each operand to bfloat16 (7 mantissa bits) to nearest,
	// ties to even, as cvt.rn.bf16.f32 does.
	BF16
)

// Precisions lists the accepted names in order.
var Precisions = []Precision{FP32, TF32, BF16}

// String returns "fp32", "tf32" or "bf16".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision turns "fp32", "tf32" or "bf16" into a Precision.
func ParsePrecision(s string) (Precision, error) {
	for _, p := range Precisions {
		if s == p.String() {
			return p, nil
		}
	}
	return FP32, fmt.Errorf("precision %q not understood; use fp32, tf32 or bf16", s)
}

// Round rounds x to the operand format of p (FP32: x unchanged).
func (p Precision) Round(x float32) float32 {
	switch p {
	case TF32:
		return RoundTF32(x)
	case BF16:
		return RoundBF16(x)
	}
	return x
}

// RoundBF16 rounds x to the nearest bfloat16 value, ties to even, and
// returns it as a float32 (the low 16 bits zero). NaN stays NaN (quiet),
// infinities stay, finite values that round past the largest bfloat16
// become infinities, as cvt.rn.bf16.f32 does.
func RoundBF16(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep the sign, make it quiet
		return math.Float32frombits((b | 0x00400000) & 0xffff0000)
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b & 0xffff0000)
}

// RoundTF32 rounds x to the nearest TF32 value (10 mantissa bits), ties
// away from zero, and returns it as a float32 (the low 13 bits zero), as
// cvt.rna.tf32.f32 does. NaN and infinities are kept.
func RoundTF32(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7f800000 == 0x7f800000 { // Inf or NaN
		if b&0x007fffff != 0 {
			return math.Float32frombits((b | 0x00400000) & 0xffffe000)
		}
		return x
	}
	b += 0x1000
	return math.Float32frombits(b & 0xffffe000)
}
