// Package model builds the SimCLR networks on top of backend.Backend: the
// ResNet-18/34/50 encoder f (torchvision's ResNet without its fc layer), the
// projection head g, the full SimCLR training step (two views -> f -> g ->
// L2 normalise -> cosine similarity -> NT-Xent -> backward) and encoder
// checkpoints in safetensors format with torchvision's tensor names.
//
// Every layer talks only to the backend, so the same code runs on the CPU
// reference backend and on device backends. Each Forward keeps the
// activations its Backward needs; activation, statistic and gradient buffers
// are allocated once per input shape and reused on later steps, so a training
// loop with a fixed batch shape does no backend allocation in steady state.
//
// Ownership: a tensor returned by Forward or Backward belongs to the module
// that returned it and stays valid until that module's next Forward (or
// Backward). The input passed to a train-mode Forward must stay unchanged
// until the matching Backward, which reads it.
package model
