package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"

	"simclr/internal/backend"
	"simclr/internal/safetensors"
)

// EncoderFormat is the "format" metadata value of an encoder checkpoint.
const EncoderFormat = "simclr-encoder-v1"

// Metadata keys of an encoder checkpoint.
const (
	metaFormat     = "format"
	metaArch       = "arch"
	metaStem       = "stem"
	metaWidth      = "width"
	metaInChannels = "in_channels"
	metaImageSize  = "image_size"
	metaMean       = "mean"
	metaStd        = "std"
	metaConfig     = "config"
	metaPrecision  = "precision"
)

// EncoderMeta is what an encoder checkpoint records besides the weights:
// the architecture, the image size and normalisation the encoder was trained
// with, and the resolved training configuration (YAML).
type EncoderMeta struct {
	Arch, Stem        string
	Width, InChannels int
	ImageSize         int
	Mean, Std         []float64
	Config            string
	// Precision is the matmul precision (fp32, tf32, bf16) the encoder
	// was trained in; empty in files written before it was recorded.
	Precision string
}

// SaveEncoder writes r's state dict (torchvision names, no fc) and meta to
// path as safetensors, atomically. Arch, Stem, Width and InChannels are taken
// from r when meta leaves them empty and must match r otherwise; Mean and Std
// need one value per input channel.
func SaveEncoder(path string, r *ResNet, meta EncoderMeta) error {
	if r == nil {
		return fmt.Errorf("save encoder %s: encoder is nil", path)
	}
	meta, err := completeMeta(r.cfg, meta)
	if err != nil {
		return fmt.Errorf("save encoder %s: %w", path, err)
	}
	tensors, err := StateTensors(r.b, r.StateDict(), "")
	if err != nil {
		return fmt.Errorf("save encoder %s: %w", path, err)
	}
	mean, _ := json.Marshal(meta.Mean)
	std, _ := json.Marshal(meta.Std)
	f := &safetensors.File{
		Tensors: tensors,
		Metadata: map[string]string{
			metaFormat:     EncoderFormat,
			metaArch:       meta.Arch,
			metaStem:       meta.Stem,
			metaWidth:      strconv.Itoa(meta.Width),
			metaInChannels: strconv.Itoa(meta.InChannels),
			metaImageSize:  strconv.Itoa(meta.ImageSize),
			metaMean:       string(mean),
			metaStd:        string(std),
			metaConfig:     meta.Config,
		},
	}
	if meta.Precision != "" {
		f.Metadata[metaPrecision] = meta.Precision
	}
	if err := safetensors.Write(path, f); err != nil {
		return fmt.Errorf("save encoder %s: %w", path, err)
	}
	return nil
}

// completeMeta fills the architecture fields from cfg and validates meta.
func completeMeta(cfg Config, m EncoderMeta) (EncoderMeta, error) {
	fill := func(field string, got *string, want string) error {
		if *got == "" {
			*got = want
		} else if *got != want {
			return fmt.Errorf("metadata %s %q differs from the encoder's %q", field, *got, want)
		}
		return nil
	}
	fillInt := func(field string, got *int, want int) error {
		if *got == 0 {
			*got = want
		} else if *got != want {
			return fmt.Errorf("metadata %s %d differs from the encoder's %d", field, *got, want)
		}
		return nil
	}
	if err := errors.Join(fill(metaArch, &m.Arch, cfg.Arch), fill(metaStem, &m.Stem, cfg.Stem),
		fillInt(metaWidth, &m.Width, cfg.Width), fillInt(metaInChannels, &m.InChannels, cfg.InChannels)); err != nil {
		return m, err
	}
	return m, validateMeta(m)
}

// validateMeta checks the image fields of meta.
func validateMeta(m EncoderMeta) error {
	if m.ImageSize < 1 {
		return fmt.Errorf("metadata image_size %d must be at least 1 (the training crop size)", m.ImageSize)
	}
	if len(m.Mean) != m.InChannels || len(m.Std) != m.InChannels {
		return fmt.Errorf("metadata mean %v and std %v need %d values each (one per input channel)", m.Mean, m.Std, m.InChannels)
	}
	for i := range m.Mean {
		if math.IsNaN(m.Mean[i]) || math.IsInf(m.Mean[i], 0) {
			return fmt.Errorf("metadata mean[%d] = %v must be finite", i, m.Mean[i])
		}
		if !(m.Std[i] > 0) || math.IsInf(m.Std[i], 0) {
			return fmt.Errorf("metadata std[%d] = %v must be a finite number > 0", i, m.Std[i])
		}
	}
	return nil
}

// LoadEncoder reads an encoder checkpoint written by SaveEncoder, builds the
// ResNet its metadata describes on b and loads the weights strictly.
func LoadEncoder(path string, b backend.Backend) (*ResNet, EncoderMeta, error) {
	if b == nil {
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: backend is nil", path)
	}
	f, err := safetensors.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: file not found; pass the encoder.safetensors written by `simclr pretrain`: %w", path, err)
		}
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: %w", path, err)
	}
	meta, err := parseEncoderMeta(f.Metadata)
	if err != nil {
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: %w", path, err)
	}
	cfg := Config{Arch: meta.Arch, Stem: meta.Stem, Width: meta.Width, InChannels: meta.InChannels}
	if err := checkStem(f, cfg); err != nil {
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: %w", path, err)
	}
	r, err := newResNet(b, cfg, nil)
	if err != nil {
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: metadata: %w", path, err)
	}
	if err := r.LoadStateDict(f, ""); err != nil {
		return nil, EncoderMeta{}, fmt.Errorf("load encoder %s: %w", path, err)
	}
	return r, meta, nil
}

// ReadEncoderMeta reads the metadata of an encoder checkpoint written by
// SaveEncoder without building the network: what a job needs to plan its
// preprocessing before a backend exists.
func ReadEncoderMeta(path string) (EncoderMeta, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return EncoderMeta{}, fmt.Errorf("read encoder %s: file not found; pass the encoder.safetensors written by `simclr pretrain`: %w", path, err)
		}
		return EncoderMeta{}, fmt.Errorf("read encoder %s: %w", path, err)
	}
	meta, err := parseEncoderMeta(f.Metadata)
	if err != nil {
		return EncoderMeta{}, fmt.Errorf("read encoder %s: %w", path, err)
	}
	return meta, nil
}

// parseEncoderMeta decodes and validates the metadata of an encoder file.
func parseEncoderMeta(md map[string]string) (EncoderMeta, error) {
	var m EncoderMeta
	if got := md[metaFormat]; got != EncoderFormat {
		if got == "" {
			return m, fmt.Errorf("not a simclr encoder checkpoint (no %q metadata); export one with `simclr pretrain`", metaFormat)
		}
		return m, fmt.Errorf("unsupported checkpoint format %q, want %q; export the encoder again with this version of simclr", got, EncoderFormat)
	}
	var errs []error
	get := func(key string) string {
		v, ok := md[key]
		if !ok {
			errs = append(errs, fmt.Errorf("metadata %q is missing", key))
		}
		return v
	}
	atoi := func(key string) int {
		s := get(key)
		v, err := strconv.Atoi(s)
		if err != nil && s != "" {
			errs = append(errs, fmt.Errorf("metadata %s %q is not an integer", key, s))
		}
		return v
	}
	floats := func(key string) []float64 {
		s := get(key)
		var v []float64
		if err := json.Unmarshal([]byte(s), &v); err != nil && s != "" {
			errs = append(errs, fmt.Errorf("metadata %s %q is not a JSON array of numbers", key, s))
		}
		return v
	}
	m.Arch = get(metaArch)
	m.Stem = get(metaStem)
	m.Width = atoi(metaWidth)
	m.InChannels = atoi(metaInChannels)
	m.ImageSize = atoi(metaImageSize)
	m.Mean = floats(metaMean)
	m.Std = floats(metaStd)
	m.Config = md[metaConfig]
	m.Precision = md[metaPrecision]
	if err := errors.Join(errs...); err != nil {
		return EncoderMeta{}, err
	}
	cfg := Config{Arch: m.Arch, Stem: m.Stem, Width: m.Width, InChannels: m.InChannels}
	if err := cfg.ValidateEncoder(); err != nil {
		return EncoderMeta{}, fmt.Errorf("metadata: %w", err)
	}
	if err := validateMeta(m); err != nil {
		return EncoderMeta{}, err
	}
	return m, nil
}

// checkStem compares conv1.weight with the metadata before anything is
// allocated, so corrupt metadata (say a huge width) fails cheaply.
func checkStem(f *safetensors.File, cfg Config) error {
	k := 3
	if cfg.Stem == StemImageNet {
		k = 7
	}
	want := []int{cfg.Width, cfg.InChannels, k, k}
	t, ok := f.Get("conv1.weight")
	if !ok {
		return fmt.Errorf(`missing tensor "conv1.weight"; the file holds no encoder`)
	}
	if !slices.Equal(t.Shape, want) {
		return fmt.Errorf(`tensor "conv1.weight" has shape %v, want %v for the metadata's %s stem, width %d, in_channels %d`,
			t.Shape, want, cfg.Stem, cfg.Width, cfg.InChannels)
	}
	return nil
}
