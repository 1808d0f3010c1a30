package model

import (
	"math"
	"math/rand/v2"
)

// PCG stream constants: the encoder and the projection head draw from
// different streams, so NewSimCLR can give both the same seed.
const (
	encoderStream   = 0x5eed_e4c0_0000_0001
	projectorStream = 0x5eed_9e4d_0000_0002
)

// newRNG returns a PCG generator seeded deterministically.
func newRNG(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// kaimingNormalFanOut draws n values from N(0, 2/fanOut), torchvision's
// kaiming_normal_(mode="fan_out", nonlinearity="relu") for convolutions.
func kaimingNormalFanOut(rng *rand.Rand, n, fanOut int) []float32 {
	std := math.Sqrt(2 / float64(fanOut))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

// uniformFanIn draws n values from U(-1/sqrt(fanIn), 1/sqrt(fanIn)), PyTorch's
// default nn.Linear initialisation of both weight and bias.
func uniformFanIn(rng *rand.Rand, n, fanIn int) []float32 {
	bound := 1 / math.Sqrt(float64(fanIn))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return v
}

// constant returns n copies of c.
func constant(n int, c float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = c
	}
	return v
}
