// similarity.cu - the similarity matrix s = z z^T and its gradient, on the
// gemm_tile.cuh core.
//
// Shapes: z [M,D], s and ds [M,M].
//   similarity_fwd: s = z z^T             GEMM M=M, N=M, K=D
//   similarity_bwd: dz = (ds + ds^T) z    GEMM M=M, N=D, K=M; the A functor
//                   forms ds[i,k] + ds[k,i] while loading the tile, so the
//                   symmetrised matrix is never stored.
// Launch: see gemm_tile.cuh (256 threads, 64x64 tiles).
#include "gemm_tile.cuh"

// SymA reads ds[i,k] + ds[k,i].
struct SymA {
  const float* ds;
  int M;
  __device__ __forceinline__ float operator()(int i, int k) const {
    return fadd_rn(ds[(size_t)i * M + k], ds[(size_t)k * M + i]);
  }
};

extern "C" __global__ void __launch_bounds__(GT_THREADS)
similarity_fwd(const float* z, float* s, int M, int D) {
  RowMajor a{z, D};
  Transposed b{z, D};
  StoreRowMajor st{s, M};
  gemm_tile(M, M, 0, D, a, b, st);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
similarity_bwd(const float* z, const float* ds, float* dz, int M, int D) {
  SymA a{ds, M};
  RowMajor b{z, D};
  StoreRowMajor st{dz, D};
  gemm_tile(M, D, 0, M, a, b, st);
}
