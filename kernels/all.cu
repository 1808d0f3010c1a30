// all.cu - the single translation unit nvcc compiles into
// kernels/build/simclr.fatbin (nvcc -fatbin takes one input file) and that
// the CPU emulator (internal/backend/cuda/emu_kernels.cc) compiles with g++.
// Each included file holds one op family; see its header comment.
#include "elementwise.cu"
#include "reduce.cu"
#include "conv.cu"
#include "linear.cu"
#include "similarity.cu"
#include "batchnorm.cu"
#include "pooling.cu"
#include "l2norm.cu"
#include "loss.cu"
#include "optim.cu"
