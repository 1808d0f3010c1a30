// Package config holds simclr's typed configuration: the built-in defaults,
// loading from a YAML file, SIMCLR_* environment variables, --set overrides
// and dedicated command-line flags (in increasing precedence), the one place
// where every value is range-checked, and the conversions into the settings
// of the data and augmentation packages.
//
// Every key is a dotted snake_case path such as "data.limit"; [Keys] lists
// them all. The origin of each value is tracked so that an error can name
// the file and line, environment variable or flag that set a bad value.
package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Config is the fully resolved configuration of a run. The yaml and
// mapstructure tags are the key names.
type Config struct {
	Seed    int64         `yaml:"seed" mapstructure:"seed"`
	Device  string        `yaml:"device" mapstructure:"device"`
	Data    DataConfig    `yaml:"data" mapstructure:"data"`
	Augment AugmentConfig `yaml:"augment" mapstructure:"augment"`
	Model   ModelConfig   `yaml:"model" mapstructure:"model"`
	Loss    LossConfig    `yaml:"loss" mapstructure:"loss"`
	Optim   OptimConfig   `yaml:"optim" mapstructure:"optim"`
	Train   TrainConfig   `yaml:"train" mapstructure:"train"`
	Eval    EvalConfig    `yaml:"eval" mapstructure:"eval"`
	Dist    DistConfig    `yaml:"dist" mapstructure:"dist"`

	// origins maps each dotted key to where its value came from.
	origins map[string]origin
}

// DataConfig selects the data set and how it is read.
type DataConfig struct {
	Format         string `yaml:"format" mapstructure:"format"`
	Path           string `yaml:"path" mapstructure:"path"`
	Split          string `yaml:"split" mapstructure:"split"`
	EvalSplit      string `yaml:"eval_split" mapstructure:"eval_split"`
	Limit          int    `yaml:"limit" mapstructure:"limit"`
	ImageSize      int    `yaml:"image_size" mapstructure:"image_size"`
	SkipBad        bool   `yaml:"skip_bad" mapstructure:"skip_bad"`
	Workers        int    `yaml:"workers" mapstructure:"workers"`
	DropLast       bool   `yaml:"drop_last" mapstructure:"drop_last"`
	SyntheticSize  int    `yaml:"synthetic_size" mapstructure:"synthetic_size"`
	CIFAR100Labels string `yaml:"cifar100_labels" mapstructure:"cifar100_labels"`
}

// AugmentConfig holds SimCLR's augmentation settings. Empty Mean and Std
// select the data set's usual normalisation (see [NormalizationDefaults]).
type AugmentConfig struct {
	CropScale         [2]float64 `yaml:"crop_scale,flow" mapstructure:"crop_scale"`
	CropRatio         [2]float64 `yaml:"crop_ratio,flow" mapstructure:"crop_ratio"`
	FlipP             float64    `yaml:"flip_p" mapstructure:"flip_p"`
	JitterP           float64    `yaml:"jitter_p" mapstructure:"jitter_p"`
	Strength          float64    `yaml:"strength" mapstructure:"strength"`
	Brightness        float64    `yaml:"brightness" mapstructure:"brightness"`
	Contrast          float64    `yaml:"contrast" mapstructure:"contrast"`
	Saturation        float64    `yaml:"saturation" mapstructure:"saturation"`
	Hue               float64    `yaml:"hue" mapstructure:"hue"`
	GrayP             float64    `yaml:"gray_p" mapstructure:"gray_p"`
	BlurP             float64    `yaml:"blur_p" mapstructure:"blur_p"`
	BlurSigma         [2]float64 `yaml:"blur_sigma,flow" mapstructure:"blur_sigma"`
	BlurKernelFrac    float64    `yaml:"blur_kernel_frac" mapstructure:"blur_kernel_frac"`
	SolarizeP         float64    `yaml:"solarize_p" mapstructure:"solarize_p"`
	SolarizeThreshold float64    `yaml:"solarize_threshold" mapstructure:"solarize_threshold"`
	Mean              []float64  `yaml:"mean,flow" mapstructure:"mean"`
	Std               []float64  `yaml:"std,flow" mapstructure:"std"`
}

// ModelConfig describes the encoder and the projection head.
type ModelConfig struct {
	Arch       string `yaml:"arch" mapstructure:"arch"`
	Stem       string `yaml:"stem" mapstructure:"stem"`
	Width      int    `yaml:"width" mapstructure:"width"`
	HeadLayers int    `yaml:"head_layers" mapstructure:"head_layers"`
	HeadHidden int    `yaml:"head_hidden" mapstructure:"head_hidden"`
	HeadOut    int    `yaml:"head_out" mapstructure:"head_out"`
	HeadBN     bool   `yaml:"head_bn" mapstructure:"head_bn"`
	SyncBN     bool   `yaml:"sync_bn" mapstructure:"sync_bn"`
}

// LossConfig holds the NT-Xent loss settings.
type LossConfig struct {
	Temperature float64 `yaml:"temperature" mapstructure:"temperature"`
	// Fused selects the NT-Xent computation: "auto", "on" (from z, never
	// the [2N,2N] similarity matrix) or "off" (materialised); see
	// model.FusedLossFor.
	Fused string `yaml:"fused" mapstructure:"fused"`
}

// OptimConfig selects the optimiser and its hyper-parameters.
type OptimConfig struct {
	Name          string  `yaml:"name" mapstructure:"name"`
	LR            float64 `yaml:"lr" mapstructure:"lr"`
	LRScaling     string  `yaml:"lr_scaling" mapstructure:"lr_scaling"`
	Momentum      float64 `yaml:"momentum" mapstructure:"momentum"`
	Nesterov      bool    `yaml:"nesterov" mapstructure:"nesterov"`
	WeightDecay   float64 `yaml:"weight_decay" mapstructure:"weight_decay"`
	TrustCoef     float64 `yaml:"trust_coef" mapstructure:"trust_coef"`
	ExcludeBiasBN bool    `yaml:"exclude_bias_bn" mapstructure:"exclude_bias_bn"`
	WarmupEpochs  int     `yaml:"warmup_epochs" mapstructure:"warmup_epochs"`
	Beta1         float64 `yaml:"beta1" mapstructure:"beta1"`
	Beta2         float64 `yaml:"beta2" mapstructure:"beta2"`
	Eps           float64 `yaml:"eps" mapstructure:"eps"`
}

// TrainConfig holds the pretraining schedule and the number format of the
// matrix products.
type TrainConfig struct {
	Epochs          int `yaml:"epochs" mapstructure:"epochs"`
	BatchSize       int `yaml:"batch_size" mapstructure:"batch_size"`
	CheckpointEvery int `yaml:"checkpoint_every" mapstructure:"checkpoint_every"`
	// Precision is the operand format of the convolutions and linear
	// layers of every job that runs the encoder: fp32, tf32, bf16, or auto
	// (bf16 on a CUDA device, fp32 on the CPU); see MatmulPrecision.
	Precision string `yaml:"precision" mapstructure:"precision"`
	// LogEvery is the logging interval in optimizer steps: the losses
	// stay on the device and are read back once per interval.
	LogEvery int `yaml:"log_every" mapstructure:"log_every"`
	// Recompute keeps only each residual block's input and output in the
	// forward and rebuilds the rest in the backward (activation
	// recomputation: the same results, less memory, more work).
	Recompute bool `yaml:"recompute" mapstructure:"recompute"`
}

// EvalConfig holds the k-NN monitor and linear-probe settings.
type EvalConfig struct {
	KNNEvery         int     `yaml:"knn_every" mapstructure:"knn_every"`
	KNNK             int     `yaml:"knn_k" mapstructure:"knn_k"`
	KNNTemperature   float64 `yaml:"knn_temperature" mapstructure:"knn_temperature"`
	ProbeEpochs      int     `yaml:"probe_epochs" mapstructure:"probe_epochs"`
	ProbeLR          float64 `yaml:"probe_lr" mapstructure:"probe_lr"`
	ProbeOptim       string  `yaml:"probe_optim" mapstructure:"probe_optim"`
	ProbeWeightDecay float64 `yaml:"probe_weight_decay" mapstructure:"probe_weight_decay"`
	ProbeBatchSize   int     `yaml:"probe_batch_size" mapstructure:"probe_batch_size"`
	ProbeAugment     bool    `yaml:"probe_augment" mapstructure:"probe_augment"`
}

// DistConfig selects the communication layer of data-parallel training
// (docs/distributed.md).
type DistConfig struct {
	Backend string `yaml:"backend" mapstructure:"backend"`
	Timeout int    `yaml:"timeout" mapstructure:"timeout"`
	// Overlap all-reduces the gradients in buckets during the backward
	// pass (host collectives; bit-identical to one all-reduce after it).
	Overlap bool `yaml:"overlap" mapstructure:"overlap"`
}

// Default returns the built-in defaults; configs/default.yaml holds the same
// values. They are sized for a short run on a two-core CPU; the other files in
// configs/ carry the published recipes.
func Default() *Config {
	return &Config{
		Seed:   0,
		Device: "cpu",
		Data: DataConfig{
			Format: "synthetic", Path: "", Split: "train", EvalSplit: "test", Limit: 0,
			ImageSize: 32, SkipBad: false, Workers: 0, DropLast: true, SyntheticSize: 2048,
			CIFAR100Labels: "fine",
		},
		Augment: AugmentConfig{
			CropScale: [2]float64{0.08, 1.0}, CropRatio: [2]float64{0.75, 1.3333333},
			FlipP: 0.5, JitterP: 0.8, Strength: 0.5,
			Brightness: 0.8, Contrast: 0.8, Saturation: 0.8, Hue: 0.2,
			GrayP: 0.2, BlurP: 0.0, BlurSigma: [2]float64{0.1, 2.0}, BlurKernelFrac: 0.1,
			SolarizeP: 0.0, SolarizeThreshold: 0.5,
		},
		Model: ModelConfig{Arch: "resnet18", Stem: "cifar", Width: 16, HeadLayers: 2, HeadHidden: 0, HeadOut: 64, SyncBN: true},
		Loss:  LossConfig{Temperature: 0.5, Fused: "auto"},
		Optim: OptimConfig{
			Name: "adamw", LR: 0.002, LRScaling: "none", Momentum: 0.9, Nesterov: false,
			WeightDecay: 1e-6, TrustCoef: 0.001, ExcludeBiasBN: true, WarmupEpochs: 1,
			Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		},
		Train: TrainConfig{Epochs: 5, BatchSize: 128, CheckpointEvery: 1, Precision: PrecisionAuto, LogEvery: 1},
		Eval: EvalConfig{
			KNNEvery: 0, KNNK: 200, KNNTemperature: 0.1, ProbeEpochs: 30, ProbeLR: 0.1,
			ProbeOptim: "sgd", ProbeWeightDecay: 0, ProbeBatchSize: 256, ProbeAugment: false,
		},
		Dist: DistConfig{Backend: "auto", Timeout: 600, Overlap: true},
	}
}

// kind is the value type of a key.
type kind int

const (
	kindInt kind = iota
	kindFloat
	kindString
	kindBool
	kindFloatList // any length
	kindFloatPair // exactly two numbers
)

func (k kind) String() string {
	switch k {
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean (true or false)"
	case kindFloatList:
		return "a list of numbers (YAML [a, b, ...] or comma-separated a,b,...)"
	case kindFloatPair:
		return "a pair of numbers (YAML [a, b] or comma-separated a,b)"
	}
	return "unknown"
}

// keyInfo describes one leaf key of the configuration.
type keyInfo struct {
	key   string // dotted, e.g. "data.limit"
	kind  kind
	index []int // field path in Config for reflect.Value.FieldByIndex
}

// schema lists every leaf key in declaration order; it is derived once from
// the Config struct so that the struct is the only list of keys.
var schema = buildSchema()

// schemaByKey indexes schema by dotted key.
var schemaByKey = func() map[string]keyInfo {
	m := make(map[string]keyInfo, len(schema))
	for _, k := range schema {
		m[k.key] = k
	}
	return m
}()

// sections is the set of top-level keys that hold nested keys ("data", ...).
var sections = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range schema {
		if i := strings.IndexByte(k.key, '.'); i > 0 {
			m[k.key[:i]] = true
		}
	}
	return m
}()

func buildSchema() []keyInfo {
	var out []keyInfo
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			key := prefix + name
			idx := append(slices.Clone(index), i)
			switch f.Type.Kind() {
			case reflect.Struct:
				walk(f.Type, key+".", idx)
				continue
			case reflect.Int, reflect.Int64:
				out = append(out, keyInfo{key, kindInt, idx})
			case reflect.Float64:
				out = append(out, keyInfo{key, kindFloat, idx})
			case reflect.String:
				out = append(out, keyInfo{key, kindString, idx})
			case reflect.Bool:
				out = append(out, keyInfo{key, kindBool, idx})
			case reflect.Slice:
				out = append(out, keyInfo{key, kindFloatList, idx})
			case reflect.Array:
				out = append(out, keyInfo{key, kindFloatPair, idx})
			default:
				panic(fmt.Sprintf("config: field %s has unsupported type %s", key, f.Type))
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// Keys returns every dotted configuration key, sorted.
func Keys() []string {
	keys := make([]string, len(schema))
	for i, k := range schema {
		keys[i] = k.key
	}
	slices.Sort(keys)
	return keys
}

// EnvVar returns the environment variable that sets key, e.g.
// "SIMCLR_DATA_LIMIT" for "data.limit".
func EnvVar(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

const envPrefix = "SIMCLR_"

// RuntimeEnv lists the SIMCLR_* environment variables that are not
// configuration keys: switches read directly by the CUDA backend, its
// start-up probe or the emulator (docs/cuda.md describes them). Load skips
// them instead of rejecting them as unknown keys. This is the one list;
// add a variable here when code starts reading a new one.
var RuntimeEnv = []string{
	"SIMCLR_SKIP_CUDA_PROBE", // driverprobe: skip the start-up device check
	"SIMCLR_EMU_THREADS",     // cudaemu: worker threads of the emulator
	"SIMCLR_CUDA_SYNC",       // cuda backend: sync and check after every launch (same as --debug-sync)
	"SIMCLR_CUDA_GEMM",       // cuda backend: GEMM rung in bf16 and tf32 (auto, ffma, tc128, tc64, tcgeneral)
}

// IsRuntimeEnv reports whether name is one of RuntimeEnv.
func IsRuntimeEnv(name string) bool { return slices.Contains(RuntimeEnv, name) }

// field returns the addressable struct field that holds key.
func (c *Config) field(k keyInfo) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}

// Get returns the value of key (as int64, float64, string, bool or
// []float64) and whether the key exists.
func (c *Config) Get(key string) (any, bool) {
	k, ok := schemaByKey[key]
	if !ok {
		return nil, false
	}
	v := c.field(k)
	switch k.kind {
	case kindInt:
		return v.Int(), true
	case kindFloat:
		return v.Float(), true
	case kindString:
		return v.String(), true
	case kindBool:
		return v.Bool(), true
	default:
		list := make([]float64, v.Len())
		for i := range list {
			list[i] = v.Index(i).Float()
		}
		return list, true
	}
}

// Origin says where the value of key came from: "built-in default", a file
// and line ("run.yaml:7"), an environment variable, "--set" or a flag name.
func (c *Config) Origin(key string) string {
	if o, ok := c.origins[key]; ok {
		return o.String()
	}
	return defaultOrigin.String()
}

// Explicit says whether the value of key was given by the user — a
// --config file, an environment variable, --set or a flag — rather than
// left at its built-in default.
func (c *Config) Explicit(key string) bool {
	o, ok := c.origins[key]
	return ok && o.kind != fromDefault
}
