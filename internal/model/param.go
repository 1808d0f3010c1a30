package model

import "simclr/internal/tensor"

// Param is one trainable tensor with its gradient. Names follow
// torchvision's state_dict keys exactly (e.g. "layer1.0.conv1.weight");
// projection-head parameters are prefixed "projector.".
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor
	// NoDecay marks biases and batch-norm parameters, which LARS and the
	// weight-decay options may exclude.
	NoDecay bool
}
