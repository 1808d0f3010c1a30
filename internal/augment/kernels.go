package augment

// Inner loops shared by resampling and blurring. Each computes four outputs
// at a time with separate accumulators so the loop is bound by throughput,
// not by the latency of one long chain of additions.

// convolveRow sets out[x] = sum_t k[t]*src[x+t]; src must hold
// len(out)+len(k)-1 values.
func convolveRow(out, src, k []float32) {
	n := len(k)
	x := 0
	for ; x+4 <= len(out); x += 4 {
		s := src[x : x+n+3]
		var a0, a1, a2, a3 float32
		for t, kt := range k {
			q := s[t : t+4 : t+4]
			a0 += kt * q[0]
			a1 += kt * q[1]
			a2 += kt * q[2]
			a3 += kt * q[3]
		}
		out[x], out[x+1], out[x+2], out[x+3] = a0, a1, a2, a3
	}
	for ; x < len(out); x++ {
		s := src[x:][:n]
		var acc float32
		for t, kt := range k {
			acc += kt * s[t]
		}
		out[x] = acc
	}
}

// weightedRowSum sets out[x] = sum_t w[t]*rows[t][x]; every row holds at
// least len(out) values.
func weightedRowSum(out []float32, rows [][]float32, w []float32) {
	rows = rows[:len(w)]
	x := 0
	for ; x+4 <= len(out); x += 4 {
		var a0, a1, a2, a3 float32
		for t, wt := range w {
			q := rows[t][x : x+4 : x+4]
			a0 += wt * q[0]
			a1 += wt * q[1]
			a2 += wt * q[2]
			a3 += wt * q[3]
		}
		out[x], out[x+1], out[x+2], out[x+3] = a0, a1, a2, a3
	}
	for ; x < len(out); x++ {
		var acc float32
		for t, wt := range w {
			acc += wt * rows[t][x]
		}
		out[x] = acc
	}
}

// gatherRow sets out[k] = sum_t w[k*taps+t]*src[start[k]-base+t].
func gatherRow(out, src []float32, start []int, base int, w []float32, taps int) {
	k := 0
	for ; k+4 <= len(out); k += 4 {
		s0 := src[start[k]-base:][:taps]
		s1 := src[start[k+1]-base:][:taps]
		s2 := src[start[k+2]-base:][:taps]
		s3 := src[start[k+3]-base:][:taps]
		ww := w[k*taps:][:4*taps]
		w0, w1, w2, w3 := ww[:taps], ww[taps:2*taps], ww[2*taps:3*taps], ww[3*taps:]
		var a0, a1, a2, a3 float32
		for t := range taps {
			a0 += w0[t] * s0[t]
			a1 += w1[t] * s1[t]
			a2 += w2[t] * s2[t]
			a3 += w3[t] * s3[t]
		}
		out[k], out[k+1], out[k+2], out[k+3] = a0, a1, a2, a3
	}
	for ; k < len(out); k++ {
		s := src[start[k]-base:][:taps]
		wk := w[k*taps:][:taps]
		var acc float32
		for t, v := range s {
			acc += wk[t] * v
		}
		out[k] = acc
	}
}
