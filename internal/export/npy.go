// Package export writes embeddings to disk for use outside this program,
// as NumPy .npy files or as CSV, and reads .npy files back.
//
// Writers stream: each Write appends rows to temporary files in the target
// directory, so memory stays bounded whatever the number of rows. Close
// fixes up the headers, syncs and renames the temporaries over the final
// names, so a reader never sees a half-written file and an existing file
// survives until the new one is complete; Abort removes the temporaries.
package export

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// npyAlign is the alignment of the data start that NumPy uses.
const npyAlign = 64

// npyGrowthDigits is the number of digits NumPy reserves for the first axis
// (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS), so the header can be rewritten
// in place when the array grows. Writers rely on it to patch N on Close.
const npyGrowthDigits = 21

// shapeRepr formats a shape the way Python's repr formats a tuple.
func shapeRepr(shape []int) string {
	switch len(shape) {
	case 0:
		return "()"
	case 1:
		return "(" + strconv.Itoa(shape[0]) + ",)"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// npyHeader returns the complete NPY v1.0 preamble (magic, version, header
// length and the padded header dict) for a C-order array of the given dtype
// descriptor and shape, byte for byte as numpy.save writes it: the dict is
// followed by spare spaces for the first axis to grow to 21 digits, then
// padded with spaces and a final newline so that the data starts at a
// multiple of 64 bytes.
func npyHeader(descr string, shape []int) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shapeRepr(shape))
	if len(shape) > 0 {
		dict += strings.Repeat(" ", npyGrowthDigits-len(strconv.Itoa(shape[0])))
	}
	hlen := len(dict) + 1 // + '\n'
	pad := npyAlign - (len(npyMagic)+2+2+hlen)%npyAlign
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.Write([]byte{1, 0})
	_ = binary.Write(&buf, binary.LittleEndian, uint16(hlen+pad))
	buf.WriteString(dict)
	buf.WriteString(strings.Repeat(" ", pad))
	buf.WriteByte('\n')
	return buf.Bytes()
}

// npyInfo is a parsed .npy header.
type npyInfo struct {
	descr     string
	fortran   bool
	shape     []int
	dataStart int
}

// ReadNPYFloat32 reads a little-endian float32 ('<f4') .npy file of any
// shape and returns its values in C order and its shape.
func ReadNPYFloat32(path string) (data []float32, shape []int, err error) {
	raw, info, err := readNPY(path, "<f4", 4)
	if err != nil {
		return nil, nil, err
	}
	data = make([]float32, len(raw)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return data, info.shape, nil
}

// ReadNPYInt64 reads a little-endian int64 ('<i8') .npy file of any shape
// and returns its values in C order and its shape.
func ReadNPYInt64(path string) ([]int64, []int, error) {
	raw, info, err := readNPY(path, "<i8", 8)
	if err != nil {
		return nil, nil, err
	}
	data := make([]int64, len(raw)/8)
	for i := range data {
		data[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return data, info.shape, nil
}

// readNPY reads path, checks the header against the wanted dtype and the
// file size against the shape, and returns the raw data bytes.
func readNPY(path, wantDescr string, itemSize int) ([]byte, *npyInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read npy %s: %w", path, err)
	}
	info, err := parseNPYHeader(b)
	if err != nil {
		return nil, nil, fmt.Errorf("read npy %s: %w", path, err)
	}
	if info.descr != wantDescr {
		return nil, nil, fmt.Errorf("read npy %s: dtype %q, want %q; convert it with numpy (a.astype(%q))", path, info.descr, wantDescr, wantDescr)
	}
	if info.fortran && len(info.shape) > 1 {
		return nil, nil, fmt.Errorf("read npy %s: array is in Fortran order; save it with numpy.ascontiguousarray first", path)
	}
	n := 1
	for _, d := range info.shape {
		if d < 0 {
			return nil, nil, fmt.Errorf("read npy %s: negative dimension in shape %v", path, info.shape)
		}
		if d > 0 && n > math.MaxInt/itemSize/d {
			return nil, nil, fmt.Errorf("read npy %s: shape %v is too large", path, info.shape)
		}
		n *= d
	}
	got := len(b) - info.dataStart
	if got != n*itemSize {
		return nil, nil, fmt.Errorf("read npy %s: shape %v needs %d data bytes but the file has %d; the file is truncated or corrupt", path, info.shape, n*itemSize, got)
	}
	return b[info.dataStart:], info, nil
}

// parseNPYHeader parses the preamble of an NPY file (versions 1, 2 and 3).
func parseNPYHeader(b []byte) (*npyInfo, error) {
	if len(b) < 10 || string(b[:6]) != npyMagic {
		return nil, fmt.Errorf("not a .npy file (bad magic or shorter than 10 bytes)")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d", b[6], b[7])
	}
	if hlen > len(b)-start {
		return nil, fmt.Errorf("header length %d runs past the end of the file (%d bytes); the file is truncated", hlen, len(b))
	}
	info := &npyInfo{dataStart: start + hlen}
	if err := parseHeaderDict(string(b[start:start+hlen]), info); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return info, nil
}

// dictParser reads the Python dict literal of an NPY header.
type dictParser struct {
	s   string
	pos int
}

func (p *dictParser) skipSpace() {
	for p.pos < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *dictParser) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *dictParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("expected %q at offset %d of %q", c, p.pos, p.s)
	}
	p.pos++
	return nil
}

func (p *dictParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at offset %d of %q", p.pos, p.s)
	}
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string in %q", p.s)
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

func (p *dictParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == '-' || p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z' || p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= '0' && p.s[p.pos] <= '9') {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *dictParser) tuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var out []int
	for {
		if p.peek() == ')' {
			p.pos++
			return out, nil
		}
		w := p.word()
		w = strings.TrimSuffix(w, "L") // Python 2 longs
		d, err := strconv.Atoi(w)
		if err != nil {
			return nil, fmt.Errorf("bad shape entry %q in %q", w, p.s)
		}
		out = append(out, d)
		if p.peek() == ',' {
			p.pos++
		} else if p.peek() != ')' {
			return nil, fmt.Errorf("bad shape tuple in %q", p.s)
		}
	}
}

// parseHeaderDict fills info from a header such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseHeaderDict(s string, info *npyInfo) error {
	p := &dictParser{s: s}
	if err := p.expect('{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for p.peek() != '}' {
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		switch key {
		case "descr":
			if info.descr, err = p.str(); err != nil {
				return err
			}
		case "fortran_order":
			switch w := p.word(); w {
			case "True":
				info.fortran = true
			case "False":
				info.fortran = false
			default:
				return fmt.Errorf("fortran_order is %q, want True or False", w)
			}
		case "shape":
			if info.shape, err = p.tuple(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected key %q (only descr, fortran_order and shape are allowed)", key)
		}
		seen[key] = true
		if p.peek() == ',' {
			p.pos++
		} else if p.peek() != '}' {
			return fmt.Errorf("expected ',' or '}' at offset %d of %q", p.pos, s)
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return fmt.Errorf("key %q is missing", k)
		}
	}
	if info.shape == nil {
		info.shape = []int{}
	}
	return nil
}
