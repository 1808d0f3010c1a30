// Package safetensors reads and writes the safetensors file format used by
// Hugging Face and PyTorch tooling, restricted to the two element types this
// project stores: float32 ("F32") and int64 ("I64").
//
// Layout of a file:
//
//	bytes 0..7   header length n, unsigned 64-bit little-endian
//	bytes 8..8+n JSON header: {"__metadata__":{"k":"v",...},
//	             "name":{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]},...}
//	             padded with spaces so that the data starts on an 8-byte boundary
//	rest         tensor data, little-endian, row-major; offsets are relative to
//	             the start of the data section, contiguous and non-overlapping
//
// Write is atomic: the file is written to a temporary name in the same
// directory, synced and renamed, so a failed write never leaves a partial
// file behind and never damages an existing one. Read validates everything it
// reads and reports errors naming the file and the offending tensor.
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"simclr/internal/atomicfile"
)

// DType names accepted by this package.
const (
	F32 = "F32"
	I64 = "I64"
)

// MaxHeaderBytes is the largest JSON header Read accepts (100 MB); larger
// values indicate a corrupt or hostile file.
const MaxHeaderBytes = 100 << 20

// metadataKey is the reserved header key that holds the string metadata.
const metadataKey = "__metadata__"

// Tensor is one named tensor. Exactly one of F32 and I64 holds the values,
// according to DType; its length equals the product of Shape (1 for a
// scalar with an empty Shape).
type Tensor struct {
	Name  string
	DType string // "F32" or "I64"
	Shape []int
	F32   []float32
	I64   []int64
}

// NewF32 returns a float32 tensor that wraps data (not copied).
func NewF32(name string, shape []int, data []float32) Tensor {
	return Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), F32: data}
}

// NewI64 returns an int64 tensor that wraps data (not copied).
func NewI64(name string, shape []int, data []int64) Tensor {
	return Tensor{Name: name, DType: I64, Shape: append([]int(nil), shape...), I64: data}
}

// Numel returns the number of elements implied by the shape.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is the content of one safetensors file: tensors in data order and
// free-form string metadata (may be nil).
type File struct {
	Tensors  []Tensor
	Metadata map[string]string
}

// Get returns the tensor with the given name.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// elemSize returns the byte size of an element of a supported dtype.
func elemSize(dtype string) (int, error) {
	switch dtype {
	case F32:
		return 4, nil
	case I64:
		return 8, nil
	case "F64", "F16", "BF16", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2":
		return 0, fmt.Errorf("unsupported dtype %q: only F32 and I64 are supported; convert the tensor to float32 (or int64) before saving", dtype)
	default:
		return 0, fmt.Errorf("unknown dtype %q: only F32 and I64 are supported", dtype)
	}
}

// validate checks one tensor before encoding and returns its data size.
func (t *Tensor) validate() (int, error) {
	if t.Name == "" {
		return 0, errors.New("tensor with an empty name: give every tensor a name")
	}
	if t.Name == metadataKey {
		return 0, fmt.Errorf("tensor name %q is reserved for metadata", t.Name)
	}
	size, err := elemSize(t.DType)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
		n *= d
	}
	switch t.DType {
	case F32:
		if len(t.F32) != n || len(t.I64) != 0 {
			return 0, fmt.Errorf("tensor %q: dtype F32 with shape %v needs %d float32 values in F32 (and none in I64), got %d (I64: %d)", t.Name, t.Shape, n, len(t.F32), len(t.I64))
		}
	case I64:
		if len(t.I64) != n || len(t.F32) != 0 {
			return 0, fmt.Errorf("tensor %q: dtype I64 with shape %v needs %d int64 values in I64 (and none in F32), got %d (F32: %d)", t.Name, t.Shape, n, len(t.I64), len(t.F32))
		}
	}
	return n * size, nil
}

// header builds the padded JSON header for f, tensors in the order given.
func header(f *File) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	if len(f.Metadata) > 0 {
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, f.Metadata[k])
		}
		buf.WriteByte('}')
		first = false
	}
	seen := make(map[string]bool, len(f.Tensors))
	offset := 0
	for i := range f.Tensors {
		t := &f.Tensors[i]
		size, err := t.validate()
		if err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %q appears twice: tensor names must be unique", t.Name)
		}
		seen[t.Name] = true
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeJSONString(&buf, t.Name)
		buf.WriteString(`:{"dtype":"`)
		buf.WriteString(t.DType)
		buf.WriteString(`","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		buf.WriteString(`],"data_offsets":[`)
		buf.WriteString(strconv.Itoa(offset))
		buf.WriteByte(',')
		offset += size
		buf.WriteString(strconv.Itoa(offset))
		buf.WriteString("]}")
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

// writeJSONString appends s as a JSON string literal.
func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	buf.Write(b)
}

// Encode writes f in safetensors format to w. Tensors are stored in the
// order of f.Tensors; metadata keys are sorted.
func Encode(w io.Writer, f *File) error {
	if f == nil {
		return errors.New("safetensors: encode: nil file")
	}
	h, err := header(f)
	if err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(h)))
	if _, err := bw.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	if _, err := bw.Write(h); err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	var e [8]byte
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.DType == F32 {
			for _, v := range t.F32 {
				binary.LittleEndian.PutUint32(e[:4], math.Float32bits(v))
				if _, err := bw.Write(e[:4]); err != nil {
					return fmt.Errorf("safetensors: encode tensor %q: %w", t.Name, err)
				}
			}
		} else {
			for _, v := range t.I64 {
				binary.LittleEndian.PutUint64(e[:], uint64(v))
				if _, err := bw.Write(e[:]); err != nil {
					return fmt.Errorf("safetensors: encode tensor %q: %w", t.Name, err)
				}
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	return nil
}

// Write stores f at path atomically (see package atomicfile): a reader
// never sees a partial file, and on any error the temporary file is
// removed and an existing file at path is left untouched. The file's mode
// is 0666 less the umask.
func Write(path string, f *File) error {
	out, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	defer out.Abort()
	if err := Encode(out, f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// Read loads and validates the safetensors file at path.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

// entry is one tensor's header record.
type entry struct {
	name   string
	dtype  string
	shape  []int
	begin  uint64
	end    uint64
	size   int
	numel  uint64
	parsed bool
}

// Decode parses a complete safetensors file held in memory. It checks the
// header length, the JSON, every dtype, that each tensor's shape matches its
// byte span, and that the spans tile the data section exactly (contiguous,
// in range, non-overlapping). The returned tensors are in data order and do
// not alias data.
func Decode(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: truncated file: %d bytes, need at least 8 for the header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderBytes {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit: the file is corrupt or not a safetensors file", n, MaxHeaderBytes)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors: header length %d is larger than the %d bytes that follow it: the file is truncated or not a safetensors file", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	body := data[8+n:]
	meta, entries, err := parseHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos uint64
	for i := range entries {
		e := &entries[i]
		if e.end > uint64(len(body)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] run past the end of the %d-byte data section: the file is truncated", e.name, e.begin, e.end, len(body))
		}
		if e.begin < pos {
			prev := entries[i-1].name
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] overlap tensor %q (which ends at %d)", e.name, e.begin, e.end, prev, pos)
		}
		if e.begin > pos {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] leave a gap after byte %d: data must be contiguous", e.name, e.begin, e.end, pos)
		}
		pos = e.end
	}
	if pos != uint64(len(body)) {
		return nil, fmt.Errorf("safetensors: %d trailing bytes after the last tensor (data section is %d bytes, tensors cover %d)", uint64(len(body))-pos, len(body), pos)
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	for i := range entries {
		e := &entries[i]
		raw := body[e.begin:e.end]
		t := Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
		if e.dtype == F32 {
			t.F32 = make([]float32, e.numel)
			for j := range t.F32 {
				t.F32[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
		} else {
			t.I64 = make([]int64, e.numel)
			for j := range t.I64 {
				t.I64[j] = int64(binary.LittleEndian.Uint64(raw[8*j:]))
			}
		}
		f.Tensors[i] = t
	}
	return f, nil
}

// parseHeader decodes the JSON header, keeping the key order and rejecting
// duplicate keys (which encoding/json would silently merge).
func parseHeader(hdr []byte) (map[string]string, []entry, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("invalid JSON: the header must be a JSON object")
	}
	var meta map[string]string
	var entries []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("invalid JSON: expected a key, got %v", tok)
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON in the value of %q: %w", key, err)
		}
		if key == metadataKey {
			meta, err = parseMetadata(raw)
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(key, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	// Only padding whitespace may follow the object.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("invalid JSON: unexpected data after the header object: %q", truncate(string(rest), 40))
	}
	return meta, entries, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseMetadata decodes __metadata__, which must map strings to strings.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("__metadata__ must be a JSON object of strings: %s", truncate(string(raw), 60))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("__metadata__ key %q: value %v is not a string (safetensors metadata holds strings only)", k, v)
		}
		out[k] = s
	}
	return out, nil
}

// parseEntry decodes one tensor record and checks dtype, shape and span.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	var rec struct {
		DType       *string       `json:"dtype"`
		Shape       []json.Number `json:"shape"`
		DataOffsets []json.Number `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return entry{}, fmt.Errorf("tensor %q: invalid record %s: %w", name, truncate(string(raw), 80), err)
	}
	if rec.DType == nil || rec.Shape == nil || rec.DataOffsets == nil {
		return entry{}, fmt.Errorf("tensor %q: record needs dtype, shape and data_offsets, got %s", name, truncate(string(raw), 80))
	}
	e := entry{name: name, dtype: *rec.DType}
	size, err := elemSize(e.dtype)
	if err != nil {
		return entry{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	e.size = size
	e.numel = 1
	e.shape = make([]int, len(rec.Shape))
	for i, num := range rec.Shape {
		d, err := strconv.ParseUint(num.String(), 10, 32)
		if err != nil {
			return entry{}, fmt.Errorf("tensor %q: invalid dimension %s in shape", name, num)
		}
		e.shape[i] = int(d)
		// Guard the product against overflow; any real tensor is far smaller.
		if d != 0 && e.numel > math.MaxInt64/uint64(size)/d {
			return entry{}, fmt.Errorf("tensor %q: shape %v is too large", name, e.shape)
		}
		e.numel *= d
	}
	if len(rec.DataOffsets) != 2 {
		return entry{}, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(rec.DataOffsets))
	}
	e.begin, err = strconv.ParseUint(rec.DataOffsets[0].String(), 10, 63)
	if err != nil {
		return entry{}, fmt.Errorf("tensor %q: invalid data_offsets begin %s", name, rec.DataOffsets[0])
	}
	e.end, err = strconv.ParseUint(rec.DataOffsets[1].String(), 10, 63)
	if err != nil {
		return entry{}, fmt.Errorf("tensor %q: invalid data_offsets end %s", name, rec.DataOffsets[1])
	}
	if e.end < e.begin {
		return entry{}, fmt.Errorf("tensor %q: data_offsets [%d,%d] end before they begin", name, e.begin, e.end)
	}
	if want := e.numel * uint64(size); e.end-e.begin != want {
		return entry{}, fmt.Errorf("tensor %q: dtype %s shape %v needs %d bytes but data_offsets [%d,%d] span %d", name, e.dtype, e.shape, want, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}
