package cpu

// The float64 reductions below keep four independent accumulators (so the
// adds pipeline instead of waiting on one another) and combine them in a
// fixed order: the result depends only on the input, never on threading.

// sum64 returns the sum of v in float64.
func sum64(v []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		s0 += float64(q[0])
		s1 += float64(q[1])
		s2 += float64(q[2])
		s3 += float64(q[3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot64 returns sum a[i]*b[i] in float64; b must be at least as long as a.
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p := a[i : i+4 : i+4]
		q := b[i : i+4 : i+4]
		s0 += float64(p[0]) * float64(q[0])
		s1 += float64(p[1]) * float64(q[1])
		s2 += float64(p[2]) * float64(q[2])
		s3 += float64(p[3]) * float64(q[3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumAndSqShift64 returns sum (v[i]-shift) and sum (v[i]-shift)^2 in
// float64: the batch-norm statistics in one pass. With shift close to the
// mean (any value of v) the variance sum/M - (sum shifted/M)^2 does not
// suffer the cancellation of the raw sum of squares.
func sumAndSqShift64(v []float32, shift float64) (s, sq float64) {
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		d0 := float64(q[0]) - shift
		d1 := float64(q[1]) - shift
		d2 := float64(q[2]) - shift
		d3 := float64(q[3]) - shift
		a0 += d0
		a1 += d1
		a2 += d2
		a3 += d3
		b0 += d0 * d0
		b1 += d1 * d1
		b2 += d2 * d2
		b3 += d3 * d3
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - shift
		a0 += d
		b0 += d * d
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

// sumAndDotDev64 returns sum g[i] and sum g[i]*(x[i]-mean) in float64 (the
// batch-norm backward sums); g must be at least as long as x.
func sumAndDotDev64(x, g []float32, mean float64) (sg, sgx float64) {
	g = g[:len(x)]
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		p := x[i : i+4 : i+4]
		q := g[i : i+4 : i+4]
		g0, g1, g2, g3 := float64(q[0]), float64(q[1]), float64(q[2]), float64(q[3])
		a0 += g0
		a1 += g1
		a2 += g2
		a3 += g3
		b0 += g0 * (float64(p[0]) - mean)
		b1 += g1 * (float64(p[1]) - mean)
		b2 += g2 * (float64(p[2]) - mean)
		b3 += g3 * (float64(p[3]) - mean)
	}
	for ; i < len(x); i++ {
		gi := float64(g[i])
		a0 += gi
		b0 += gi * (float64(x[i]) - mean)
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}
