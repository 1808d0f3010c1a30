// Package train runs the three jobs users ask for — SimCLR pretraining,
// linear evaluation and embedding export — over any backend.Backend.
package train

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/safetensors"
)

// ModelPrefix prefixes the model's state-dict names inside a training
// checkpoint (encoder "model.conv1.weight", head "model.projector.0.weight");
// optimizer state lives under "optim.".
const ModelPrefix = "model."

// optimizerTensors downloads the optimizer state.
func optimizerTensors(b backend.Backend, o optim.Optimizer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, nt := range o.State() {
		vals := make([]float32, nt.T.Numel())
		if err := b.Download(vals, nt.T); err != nil {
			return nil, fmt.Errorf("download %s: %w", nt.Name, err)
		}
		out = append(out, safetensors.Tensor{Name: nt.Name, DType: "F32", Shape: append([]int(nil), nt.T.Shape...), F32: vals})
	}
	return out, nil
}

// LoadSimCLR rebuilds the encoder and projection head of a training
// checkpoint (checkpoint.safetensors): the encoder's shape comes from meta
// (the encoder file's metadata), the head's from cfg.
func LoadSimCLR(path string, b backend.Backend, cfg *config.Config, meta model.EncoderMeta) (*model.SimCLR, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	if f.Metadata["format"] != checkpointKind {
		return nil, fmt.Errorf("%s is not a simclr training checkpoint (format %q)", path, f.Metadata["format"])
	}
	mc := ModelConfig(cfg, meta.InChannels)
	mc.Arch, mc.Stem, mc.Width = meta.Arch, meta.Stem, meta.Width
	net, err := model.NewSimCLR(b, mc, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if err := net.LoadStateDict(f, ModelPrefix); err != nil {
		return nil, fmt.Errorf("%s: %w (were model.head_* the same as in pretraining? pass its config.yaml with --config)", path, err)
	}
	return net, nil
}
