package train

// The training checkpoint (checkpoint.safetensors): everything --resume
// needs and --layer projection reads. This file is its one definition:
// writing, reading for resume, and rebuilding the encoder and head.

import (
	"fmt"
	"strconv"

	"simclr/internal/backend"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/safetensors"
)

// ModelPrefix prefixes the model's state-dict names inside a training
// checkpoint (encoder "model.conv1.weight", head "model.projector.0.weight");
// optimizer state lives under "optim.".
const ModelPrefix = "model."

// checkpointKind is the "format" metadata of a training checkpoint. The
// other metadata: step, epoch, steps_per_epoch, optim_steps, seed, arch,
// stem, width, in_channels, precision (the matmul precision the steps ran
// in) and config (the resolved YAML).
const checkpointKind = "simclr-checkpoint-v1"

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
// checkpoint (checkpoint.safetensors) as mc describes them (see
// checkpointModel) and loads the weights strictly.
func LoadSimCLR(path string, b backend.Backend, mc model.Config, seed int64) (*model.SimCLR, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	if f.Metadata["format"] != checkpointKind {
		return nil, fmt.Errorf("%s is not a simclr training checkpoint (format %q)", path, f.Metadata["format"])
	}
	net, err := model.NewSimCLR(b, mc, seed)
	if err != nil {
		return nil, err
	}
	if err := net.LoadStateDict(f, ModelPrefix); err != nil {
		return nil, fmt.Errorf("%s: %w (is it from the same pretrain run as the encoder? model.head_* come from the encoder's recorded configuration, or from --config when it has none)", path, err)
	}
	return net, nil
}

// saveCheckpoint writes the model, the optimizer state and the position
// (step) of a pretraining run to path, atomically.
func (j *PretrainJob) saveCheckpoint(path string, net *model.SimCLR, opt optim.Optimizer, step, stepsPerEpoch int, meta model.EncoderMeta) error {
	b := j.Backend
	tensors, err := model.StateTensors(b, net.StateDict(), ModelPrefix)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ot, err := optimizerTensors(b, opt)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tensors = append(tensors, ot...)
	md := map[string]string{
		"format":          checkpointKind,
		"step":            strconv.Itoa(step),
		"epoch":           strconv.Itoa(step / stepsPerEpoch),
		"steps_per_epoch": strconv.Itoa(stepsPerEpoch),
		"optim_steps":     strconv.Itoa(opt.Steps()),
		"seed":            strconv.FormatInt(j.Plan.Config.Seed, 10),
		"arch":            meta.Arch,
		"stem":            meta.Stem,
		"width":           strconv.Itoa(meta.Width),
		"in_channels":     strconv.Itoa(meta.InChannels),
		"precision":       meta.Precision,
		"config":          meta.Config,
	}
	if err := safetensors.Write(path, &safetensors.File{Tensors: tensors, Metadata: md}); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// restore loads a checkpoint written by saveCheckpoint and returns its step.
func (j *PretrainJob) restore(path string, net *model.SimCLR, opt optim.Optimizer) (int, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return 0, fmt.Errorf("resume: %w (is %s a simclr run directory?)", err, j.Out)
	}
	if f.Metadata["format"] != checkpointKind {
		return 0, fmt.Errorf("resume: %s is not a simclr training checkpoint (format %q, want %q)", path, f.Metadata["format"], checkpointKind)
	}
	step, err := strconv.Atoi(f.Metadata["step"])
	if err != nil || step < 0 {
		return 0, fmt.Errorf("resume: %s has a bad step %q", path, f.Metadata["step"])
	}
	optSteps, err := strconv.Atoi(f.Metadata["optim_steps"])
	if err != nil {
		return 0, fmt.Errorf("resume: %s has a bad optim_steps %q", path, f.Metadata["optim_steps"])
	}
	if err := net.LoadStateDict(f, ModelPrefix); err != nil {
		return 0, fmt.Errorf("resume %s: %w", path, err)
	}
	get := func(name string) ([]float32, bool) {
		t, ok := f.Get(name)
		if !ok || t.DType != "F32" {
			return nil, false
		}
		return t.F32, true
	}
	if err := opt.LoadState(get, optSteps); err != nil {
		return 0, fmt.Errorf("resume %s: optimizer state: %w (was it trained with another optim.name?)", path, err)
	}
	return step, nil
}
