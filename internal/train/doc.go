// Package train runs the three jobs users ask for — SimCLR pretraining,
// linear evaluation and embedding export — over any backend.Backend.
package train
