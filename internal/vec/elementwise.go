package vec

import "math"

// ReLU sets dst[i] = 0 where src[i] is negative (-Inf included) and
// dst[i] = src[i] otherwise, so +0, -0 and NaN pass unchanged, like
// PyTorch's relu. dst must be at least as long as src and may alias it.
func ReLU(dst, src []float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 7
	if n > 0 {
		reluBody(dst[:n], src[:n])
	}
	for i := n; i < len(src); i++ {
		b := math.Float32bits(src[i])
		dst[i] = math.Float32frombits(b &^ reluDropMask(b))
	}
}

// ReLUBackward sets dx[i] = dy[i] where y[i] > 0 (NaN is not) and 0
// elsewhere. dy and dx must be at least as long as y; dx may alias dy.
func ReLUBackward(dx, y, dy []float32) {
	dx = dx[:len(y)]
	dy = dy[:len(y)]
	n := len(y) &^ 7
	if n > 0 {
		reluBackwardBody(dx[:n], y[:n], dy[:n])
	}
	for i := n; i < len(y); i++ {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & reluKeepMask(math.Float32bits(y[i])))
	}
}

// Add sets dst[i] = a[i] + b[i]; b and dst must be at least as long as a
// and may alias it.
func Add(dst, a, b []float32) {
	dst = dst[:len(a)]
	b = b[:len(a)]
	n := len(a) &^ 7
	if n > 0 {
		addBody(dst[:n], a[:n], b[:n])
	}
	for i := n; i < len(a); i++ {
		dst[i] = a[i] + b[i]
	}
}

// reluDropMask returns all ones when the float with bits b is negative and
// not NaN (0x80000001 <= b <= 0xff800000), else 0; branch-free.
func reluDropMask(b uint32) uint32 {
	return uint32(int64(uint64(b-0x80000001)-0x7f800000) >> 63)
}

// reluKeepMask returns all ones when the float with bits b is > 0 (positive
// and neither +0 nor NaN: 1 <= b <= 0x7f800000), else 0.
func reluKeepMask(b uint32) uint32 {
	return uint32(int64(uint64(b-1)-0x7f800000) >> 63)
}

func reluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		b := math.Float32bits(v)
		dst[i] = math.Float32frombits(b &^ reluDropMask(b))
	}
}

func reluBackwardGo(dx, y, dy []float32) {
	dx = dx[:len(y)]
	dy = dy[:len(y)]
	for i, v := range y {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & reluKeepMask(math.Float32bits(v)))
	}
}

func addGo(dst, a, b []float32) {
	dst = dst[:len(a)]
	b = b[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// CopyRows copies rows rows of cols floats: dst[i*ldd+j] = src[i*lds+j].
// It is copy() per row without the per-call overhead, for the many short
// rows of small feature maps.
func CopyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_ = src[(rows-1)*lds+cols-1]
	_ = dst[(rows-1)*ldd+cols-1]
	switch {
	case cols < 4 || !haveAVX2:
		copyRowsGo(dst, ldd, src, lds, rows, cols)
	case cols < 8:
		// Rows of 4-7 floats (7x7 maps): two overlapping 4-float moves
		// a row instead of a memmove call.
		copyRowsShortAVX(&dst[0], ldd, &src[0], lds, rows, cols)
	default:
		copyRowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols)
	}
}

// copyRowsGo is CopyRows with one copy call a row.
func copyRowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for i := 0; i < rows; i++ {
		copy(dst[i*ldd:i*ldd+cols], src[i*lds:i*lds+cols])
	}
}

// Deinterleave splits src into its even-indexed elements, written to
// even[0:(len(src)+1)/2], and its odd-indexed ones, written to
// odd[0:len(src)/2]. Either destination may be nil: those elements are
// skipped. It panics if a non-nil destination is too short.
func Deinterleave(even, odd, src []float32) {
	n := len(src) / 2
	switch {
	case even != nil && odd != nil:
		e, o := even[:n], odd[:n]
		for k := range o {
			pair := src[2*k : 2*k+2 : 2*k+2]
			e[k], o[k] = pair[0], pair[1]
		}
	case odd != nil:
		o := odd[:n]
		for k := range o {
			o[k] = src[2*k+1]
		}
	case even != nil:
		e := even[:n]
		for k := range e {
			e[k] = src[2*k]
		}
	}
	if len(src)%2 == 1 && even != nil {
		even[n] = src[2*n]
	}
}
