//go:build cuda || cudaemu

// Package cuda is the GPU implementation of backend.Backend: hand-written
// kernels (kernels/*.cu at the repository root) driven from Go.
//
// Two builds share every line of Go above the driver:
//
//   - -tags cuda: the real driver (gorgonia.org/cu). The kernels come from
//     simclr.fatbin, embedded from this directory (kernels/build.sh builds
//     it and copies it here). Needs a CUDA driver and device at run time.
//   - -tags cudaemu: the CPU emulator. cgo compiles kernels/all.cu with g++
//     on top of cuda_emu.h (fibers for CUDA threads, real block and warp
//     barriers). It is also the project's compute-sanitizer: device memory
//     is exact-size, guarded and poisoned, shared memory is race- and
//     initialisation-checked, warp masks and launch limits are enforced,
//     and the thread order is a parameter (CUDAEMU_ORDER); see
//     docs/cuda.md. It runs the parity suite against the CPU backend on
//     machines without a GPU.
//
// Kernel arguments are packed as 8-byte slots (pointers and ints as 64-bit
// integers, float32 in the low 32 bits) for both drivers. Values are
// deterministic: reductions use fixed trees (warp shuffles + shared memory)
// or per-block partials added on the host in order, never atomics.
//
// Without either tag the package is empty and nothing else is affected.
package cuda
