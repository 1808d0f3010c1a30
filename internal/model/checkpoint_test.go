package model

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/safetensors"
)

func testMeta() EncoderMeta {
	return EncoderMeta{ImageSize: 8, Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.247, 0.243, 0.261},
		Config: "model:\n  arch: resnet18\n"}
}

// trainedEncoder returns a small encoder whose running statistics and
// num_batches_tracked have moved away from their initial values.
func trainedEncoder(t *testing.T, b backend.Backend) *ResNet {
	t.Helper()
	m, err := NewSimCLR(b, tinyConfig(), 4)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 8, 4, 3, 8, 8)
	for i := 0; i < 2; i++ {
		if _, err := m.Step(x, 0.5); err != nil {
			t.Fatal(err)
		}
	}
	return m.Encoder
}

// savedEncoder writes a trained encoder to a temporary file.
func savedEncoder(t *testing.T, b backend.Backend) (string, *ResNet) {
	t.Helper()
	r := trainedEncoder(t, b)
	path := filepath.Join(t.TempDir(), "encoder.safetensors")
	if err := SaveEncoder(path, r, testMeta()); err != nil {
		t.Fatal(err)
	}
	return path, r
}

func TestEncoderRoundTrip(t *testing.T) {
	b := newBackend(t)
	path, r := savedEncoder(t, b)
	got, meta, err := LoadEncoder(path, b)
	if err != nil {
		t.Fatal(err)
	}
	want := testMeta()
	want.Arch, want.Stem, want.Width, want.InChannels = "resnet18", StemCIFAR, 4, 3
	if meta.Arch != want.Arch || meta.Stem != want.Stem || meta.Width != want.Width || meta.InChannels != want.InChannels ||
		meta.ImageSize != want.ImageSize || !slices.Equal(meta.Mean, want.Mean) || !slices.Equal(meta.Std, want.Std) ||
		meta.Config != want.Config {
		t.Fatalf("meta %+v, want %+v", meta, want)
	}
	if got.Config() != r.Config() {
		t.Fatalf("config %+v, want %+v", got.Config(), r.Config())
	}
	// ReadEncoderMeta gives the same metadata without building the network.
	if only, err := ReadEncoderMeta(path); err != nil || !reflect.DeepEqual(only, meta) {
		t.Fatalf("ReadEncoderMeta = %+v, %v; want %+v", only, err, meta)
	}
	if _, err := ReadEncoderMeta(path + ".missing"); err == nil || !strings.Contains(err.Error(), "file not found") {
		t.Fatalf("ReadEncoderMeta of a missing file: %v", err)
	}
	a, c := r.StateDict(), got.StateDict()
	if len(a) != len(c) {
		t.Fatalf("%d entries, want %d", len(c), len(a))
	}
	for i := range a {
		if a[i].Name != c[i].Name {
			t.Fatalf("entry %d: %s, want %s", i, c[i].Name, a[i].Name)
		}
		if a[i].I64 != nil {
			if *a[i].I64 != 2 || *c[i].I64 != 2 {
				t.Fatalf("%s: saved %d, loaded %d, want 2", a[i].Name, *a[i].I64, *c[i].I64)
			}
			continue
		}
		if !slices.Equal(download(t, b, a[i].F32), download(t, b, c[i].F32)) {
			t.Fatalf("%s differs after the round trip", a[i].Name)
		}
	}
	// Same eval features from the original and the reloaded encoder.
	x := randomInput(t, b, 9, 3, 3, 8, 8)
	f1, err := r.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	v1 := download(t, b, f1)
	f2, err := got.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v1, download(t, b, f2)) {
		t.Fatal("eval features differ after the round trip")
	}
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"format": EncoderFormat, "arch": "resnet18", "stem": "cifar", "width": "4",
		"in_channels": "3", "image_size": "8", "mean": "[0.4914,0.4822,0.4465]", "std": "[0.247,0.243,0.261]"} {
		if f.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, f.Metadata[k], v)
		}
	}
	if _, ok := f.Get("fc.weight"); ok {
		t.Error("encoder file has an fc layer")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after the save, want only the checkpoint", len(entries))
	}
}

// rewrite reads path, lets edit change the file and writes it to a new path.
func rewrite(t *testing.T, path string, edit func(f *safetensors.File)) string {
	t.Helper()
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	out := filepath.Join(t.TempDir(), "edited.safetensors")
	if err := safetensors.Write(out, f); err != nil {
		t.Fatal(err)
	}
	return out
}

func setTensor(f *safetensors.File, name string, edit func(*safetensors.Tensor)) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			edit(&f.Tensors[i])
		}
	}
}

func TestLoadEncoderErrors(t *testing.T) {
	b := newBackend(t)
	path, _ := savedEncoder(t, b)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.safetensors")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"missing file", filepath.Join(t.TempDir(), "nope.safetensors"), []string{"nope.safetensors", "file not found"}},
		{"truncated", truncated, []string{"truncated.safetensors"}},
		{"empty", empty, []string{"empty.safetensors"}},
		{"no format", rewrite(t, path, func(f *safetensors.File) { delete(f.Metadata, "format") }),
			[]string{"not a simclr encoder checkpoint"}},
		{"other format", rewrite(t, path, func(f *safetensors.File) { f.Metadata["format"] = "simclr-encoder-v9" }),
			[]string{`unsupported checkpoint format "simclr-encoder-v9"`}},
		{"unknown arch", rewrite(t, path, func(f *safetensors.File) { f.Metadata["arch"] = "vgg16" }),
			[]string{`arch "vgg16" is not supported`}},
		{"another arch", rewrite(t, path, func(f *safetensors.File) { f.Metadata["arch"] = "resnet34" }),
			[]string{"resnet34", `missing tensor "layer1.2.conv1.weight"`}},
		{"another width", rewrite(t, path, func(f *safetensors.File) { f.Metadata["width"] = "8" }),
			[]string{`tensor "conv1.weight" has shape [4 3 3 3], want [8 3 3 3]`}},
		{"another stem", rewrite(t, path, func(f *safetensors.File) { f.Metadata["stem"] = "imagenet" }),
			[]string{`tensor "conv1.weight" has shape [4 3 3 3], want [4 3 7 7]`}},
		{"huge width", rewrite(t, path, func(f *safetensors.File) { f.Metadata["width"] = "1024" }),
			[]string{`tensor "conv1.weight" has shape [4 3 3 3], want [1024 3 3 3]`}},
		{"layer1 shape mismatch", rewrite(t, path, func(f *safetensors.File) {
			setTensor(f, "layer1.0.conv1.weight", func(x *safetensors.Tensor) { x.Shape = []int{4, 4, 1, 9} })
		}), []string{`tensor "layer1.0.conv1.weight" has shape [4 4 1 9], want [4 4 3 3]`}},
		{"bad width", rewrite(t, path, func(f *safetensors.File) { f.Metadata["width"] = "four" }),
			[]string{`metadata width "four" is not an integer`}},
		{"missing mean", rewrite(t, path, func(f *safetensors.File) { delete(f.Metadata, "mean") }),
			[]string{`metadata "mean" is missing`}},
		{"short std", rewrite(t, path, func(f *safetensors.File) { f.Metadata["std"] = "[0.2]" }),
			[]string{"need 3 values each"}},
		{"shape mismatch", rewrite(t, path, func(f *safetensors.File) {
			setTensor(f, "layer2.0.conv1.weight", func(x *safetensors.Tensor) { x.Shape = []int{8, 2, 3, 3, 2} })
		}), []string{`tensor "layer2.0.conv1.weight" has shape [8 2 3 3 2], want [8 4 3 3]`}},
		{"missing tensor", rewrite(t, path, func(f *safetensors.File) {
			f.Tensors = slices.DeleteFunc(f.Tensors, func(x safetensors.Tensor) bool { return x.Name == "layer3.1.bn2.running_var" })
		}), []string{`missing tensor "layer3.1.bn2.running_var"`}},
		{"unexpected tensor", rewrite(t, path, func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.NewF32("fc.weight", []int{2, 32}, make([]float32, 64)))
		}), []string{`unexpected tensor "fc.weight"`}},
		{"dtype mismatch", rewrite(t, path, func(f *safetensors.File) {
			setTensor(f, "bn1.num_batches_tracked", func(x *safetensors.Tensor) { x.DType, x.F32, x.I64 = "F32", []float32{2}, nil })
		}), []string{`tensor "bn1.num_batches_tracked" has dtype F32, want I64`}},
		{"NaN weight", rewrite(t, path, func(f *safetensors.File) {
			setTensor(f, "layer4.0.conv2.weight", func(x *safetensors.Tensor) { x.F32[5] = float32(math.NaN()) })
		}), []string{`tensor "layer4.0.conv2.weight" has the non-finite value NaN at index 5`}},
		{"negative variance", rewrite(t, path, func(f *safetensors.File) {
			setTensor(f, "bn1.running_var", func(x *safetensors.Tensor) { x.F32[1] = -1 })
		}), []string{`tensor "bn1.running_var" has the negative variance`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := LoadEncoder(tt.path, b)
			if err == nil {
				t.Fatal("LoadEncoder succeeded")
			}
			if r != nil {
				t.Error("LoadEncoder returned an encoder with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, _, err := LoadEncoder(filepath.Join(t.TempDir(), "x"), b); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestSaveEncoderErrors(t *testing.T) {
	b := newBackend(t)
	r := trainedEncoder(t, b)
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		edit func(*EncoderMeta)
		want string
	}{
		{"arch differs", filepath.Join(dir, "a"), func(m *EncoderMeta) { m.Arch = "resnet50" }, `metadata arch "resnet50" differs from the encoder's "resnet18"`},
		{"width differs", filepath.Join(dir, "b"), func(m *EncoderMeta) { m.Width = 64 }, "metadata width 64 differs"},
		{"no image size", filepath.Join(dir, "c"), func(m *EncoderMeta) { m.ImageSize = 0 }, "image_size 0"},
		{"mean length", filepath.Join(dir, "d"), func(m *EncoderMeta) { m.Mean = m.Mean[:1] }, "need 3 values each"},
		{"zero std", filepath.Join(dir, "e"), func(m *EncoderMeta) { m.Std[1] = 0 }, "std[1] = 0"},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "enc.safetensors"), func(*EncoderMeta) {}, "enc.safetensors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := testMeta()
			tt.edit(&meta)
			err := SaveEncoder(tt.path, r, meta)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SaveEncoder error %v, want it to contain %q", err, tt.want)
			}
			if _, err := os.Stat(tt.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed save left %s behind", tt.path)
			}
		})
	}
	if err := SaveEncoder(filepath.Join(dir, "nil"), nil, testMeta()); err == nil {
		t.Error("SaveEncoder(nil encoder) succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed saves left %d files in the directory", len(entries))
	}
}

// TestLoadStateDictPrefixAndAtomicity loads an encoder stored under a
// prefix next to other tensors, and checks that a failed load changes nothing.
func TestLoadStateDictPrefixAndAtomicity(t *testing.T) {
	b := newBackend(t)
	src := trainedEncoder(t, b)
	tensors, err := StateTensors(b, src.StateDict(), "encoder.")
	if err != nil {
		t.Fatal(err)
	}
	f := &safetensors.File{Tensors: append(tensors, safetensors.NewF32("head.weight", []int{2}, []float32{1, 2}))}
	dst, err := NewResNet(b, src.Config(), 99)
	if err != nil {
		t.Fatal(err)
	}
	before := download(t, b, dst.Params()[0].Value)

	bad := &safetensors.File{Tensors: slices.Clone(f.Tensors[:len(f.Tensors)-2])} // drops the last num_batches_tracked
	if err := dst.LoadStateDict(bad, "encoder."); err == nil || !strings.Contains(err.Error(), `missing tensor "encoder.layer4.1.bn2.num_batches_tracked"`) {
		t.Fatalf("incomplete load: %v", err)
	}
	if !slices.Equal(before, download(t, b, dst.Params()[0].Value)) {
		t.Fatal("a failed load changed conv1.weight")
	}
	if err := dst.LoadStateDict(f, "encoder."); err != nil {
		t.Fatal(err)
	}
	for i, e := range src.StateDict() {
		d := dst.StateDict()[i]
		if e.I64 != nil {
			if *e.I64 != *d.I64 {
				t.Fatalf("%s: %d, want %d", e.Name, *d.I64, *e.I64)
			}
			continue
		}
		if !slices.Equal(download(t, b, e.F32), download(t, b, d.F32)) {
			t.Fatalf("%s differs after a prefixed load", e.Name)
		}
	}
	if err := dst.LoadStateDict(f, ""); err == nil || !strings.Contains(err.Error(), `missing tensor "conv1.weight"`) {
		t.Fatalf("load without the prefix: %v", err)
	}
	if err := dst.LoadStateDict(nil, ""); err == nil {
		t.Fatal("LoadStateDict(nil) succeeded")
	}
}

// TestSimCLRStateDictRoundTrip saves encoder and head under one file and
// loads them into a model built from another seed.
func TestSimCLRStateDictRoundTrip(t *testing.T) {
	b := newBackend(t)
	a, err := NewSimCLR(b, tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewSimCLR(b, tinyConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := StateTensors(b, a.StateDict(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadStateDict(&safetensors.File{Tensors: tensors}, ""); err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 3, 4, 3, 8, 8)
	la, err := a.Step(x, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := c.Step(x, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if la != lc {
		t.Fatalf("losses %v and %v differ after loading the state dict", la, lc)
	}
	if err := c.Projector.LoadStateDict(&safetensors.File{Tensors: tensors[:3]}, ""); err == nil {
		t.Fatal("projector load from encoder tensors succeeded")
	}
}
