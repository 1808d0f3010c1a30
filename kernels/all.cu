// all.cu - the single translation unit nvcc compiles into
// kernels/build/simclr.fatbin (nvcc -fatbin takes one input file) and that
// the CPU emulator (internal/backend/cuda/emu_kernels.cc) compiles with g++.
// Each included file holds one op family; see its header comment.
#include "elementwise.cu"
#include "reduce.cu"
#include "conv.cu"
#include "linear.cu"
#include "tc.cu"
#include "similarity.cu"
#include "batchnorm.cu"
#include "pooling.cu"
#include "l2norm.cu"
#include "loss.cu"
#include "ntxent_fused.cu"
#include "optim.cu"

// The SHA-256 of the kernel sources (kernels/build.sh passes it with -D),
// readable by the driver as a module global: the cuda backend refuses a
// fatbin whose hash differs from the one the Go binary was built with
// (internal/backend/cuda/internal/kernelhash). Only nvcc builds carry it;
// the emulator has its own check (kernels_hash.h).
#ifdef __CUDACC__
#ifndef SIMCLR_KERNELS_SHA256
#error "SIMCLR_KERNELS_SHA256 is not defined: build the kernels with kernels/build.sh (make kernels)"
#endif
extern "C" __device__ const char simclr_kernels_sha256[] = "simclr-kernels-sha256:" SIMCLR_KERNELS_SHA256;
#endif
