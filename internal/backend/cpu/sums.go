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

// sumSqDev64 returns sum (v[i]-mean)^2 in float64.
func sumSqDev64(v []float32, mean float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		d0 := float64(q[0]) - mean
		d1 := float64(q[1]) - mean
		d2 := float64(q[2]) - mean
		d3 := float64(q[3]) - mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - mean
		s0 += d * d
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

// sumAndDotDev64 returns sum g[i] and sum g[i]*(x[i]-mean) in float64 (the
// batch-norm backward sums); g must be at least as long as x.
func sumAndDotDev64(x, g []float32, mean float64) (sg, sgx float64) {
	g = g[:len(x)]
	var a0, a1, b0, b1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		p := x[i : i+2 : i+2]
		q := g[i : i+2 : i+2]
		g0, g1 := float64(q[0]), float64(q[1])
		a0 += g0
		a1 += g1
		b0 += g0 * (float64(p[0]) - mean)
		b1 += g1 * (float64(p[1]) - mean)
	}
	for ; i < len(x); i++ {
		gi := float64(g[i])
		a0 += gi
		b0 += gi * (float64(x[i]) - mean)
	}
	return a0 + a1, b0 + b1
}
