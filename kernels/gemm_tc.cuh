// gemm_tc.cuh - the tensor-core GEMM rungs: BF16 operands on
// mma.sync.m16n8k16 (rung 3) or TF32 operands on mma.sync.m16n8k8 (rung
// 2), fp32 accumulation, fed from a cp.async pipeline.
//
// The operand format F (TcBF16, TcTF32 below) is a template parameter of
// the operands (each says its F as Fmt) and so of the cores: both formats
// keep the same shared-memory geometry in bytes (a K tile is 64 bytes of
// a row: 32 bf16 or 16 tf32; a chunk 16 bytes: 8 or 4 elements; an mma k
// step 32 bytes: k16 or k8; rows padded to 80 bytes), so the pipeline,
// the chunk ownership and the ldmatrix addressing of the NT core are the
// same code. The comments below count in bf16 where they give numbers.
//
// Computes C[m,n] = sum_k A[m,k] * B[n,k] (both operands K-contiguous,
// "NT") for one BM x BN tile of C and hands each in-range element to
// store(m, n, value). A and B are row operands (see below) that say, per
// row and 8-element K chunk, where the chunk's 16 bytes of bf16 live in
// global memory (or that it is zero: padding, past M/N/K).
//
// Launch: TcCfg<BM,BN,WM,WN>::THREADS threads (one warp per WM x WN warp
// tile), grid.x = ceil(N/BN), grid.y = ceil(M/BM), TcCfg::SMEM_BYTES of
// dynamic shared memory (above 48 KB for 128x128: the host raises the
// kernel's limit). K must be a multiple of F::CE (8 bf16, 4 tf32; the
// host falls back to the FFMA rung otherwise).
//
// Pipeline: TC_STAGES (3) stages of a BM x 32 A tile and a BN x 32 B tile
// in dynamic shared memory, rows padded to 40 bf16 (80 bytes: ldmatrix row
// addresses stay 16-byte aligned and the 8 rows of one 8x8 matrix fall on
// different banks). Each thread owns fixed 16-byte chunks of both tiles
// and copies them with cp.async.cg (zero-filling what is out of range);
// stage kt+2 is in flight while stage kt is multiplied. The per-thread
// addressing is set up once; the K loop only adds (no division/modulo).
// Per 16-wide k step each warp loads its A fragments with ldmatrix.x4 and
// its B fragments (two n8 tiles per ldmatrix.x4) and issues
// (WM/16)*(WN/8) mma.sync.m16n8k16.
#ifndef SIMCLR_GEMM_TC_CUH
#define SIMCLR_GEMM_TC_CUH

#include <type_traits>

#include "common.cuh"
#include "mma.cuh"

#define TC_STAGES 3

// Operand formats. T: the element in global and shared memory (the
// conversion kernels of tc.cu write it: bf16 bits, or fp32 already
// rounded to tf32 with cvt.rna, so the mma's reading of the upper 19 bits
// is exact); CE: elements per 16-byte chunk; BK: elements per 64-byte K
// tile; KSTEP: the mma's k; LDS: the padded shared row of the NT core
// (80 bytes); mma: one accumulate step. TF32 fragments hold one element
// per register, and a 16-byte row of 4 tf32 is, to ldmatrix (.b16), an
// 8x8 b16 matrix row whose lane l receives b16 columns 2(l%4), 2(l%4)+1:
// tf32 element l%4 of row l/4 -- exactly the m16n8k8 A fragment a0 (g, t)
// of an 8-row x 4-column block and the B fragment b0 (k = t, n = g) of a
// B stored [n][k]. So the NT core loads tf32 fragments with the same
// ldmatrix.x4 (same byte addresses) as bf16. The .trans form transposes
// 16-bit elements and would split a tf32 value, so the K-major core loads
// tf32 fragments with scalar shared loads (tn_frags).
struct TcBF16 {
  typedef unsigned short T;
  static constexpr int CE = 8, BK = 32, KSTEP = 16, LDS = 40;
  static __device__ __forceinline__ void mma(float d[4], const unsigned a[4], const unsigned b[2]) {
    mma_bf16_16816(d, a, b, d);
  }
};
struct TcTF32 {
  typedef float T;
  static constexpr int CE = 4, BK = 16, KSTEP = 8, LDS = 20;
  static __device__ __forceinline__ void mma(float d[4], const unsigned a[4], const unsigned b[2]) {
    mma_tf32_1688(d, a, b, d);
  }
};

// TC_SMEM declares the core's dynamic shared memory as F::T[] (under nvcc
// one extern array per element type, each under its own name: two extern
// __shared__ declarations of one name with different types do not
// compile in one translation unit).
#ifdef SIMCLR_EMU
#define TC_SMEM(F, name) emu::DynShared<typename F::T> name(#name)
#else
template <class T>
struct TcSmem;
template <>
struct TcSmem<unsigned short> {
  static __device__ __forceinline__ unsigned short* get() {
    extern __shared__ unsigned short tc_smem_bf16[];
    return tc_smem_bf16;
  }
};
template <>
struct TcSmem<float> {
  static __device__ __forceinline__ float* get() {
    extern __shared__ float tc_smem_tf32[];
    return tc_smem_tf32;
  }
};
#define TC_SMEM(F, name) typename F::T* name = TcSmem<typename F::T>::get()
#endif

// TcStage<S> names pipeline slot S at compile time (the K loops pass it
// to a generic lambda and read decltype(stage)::value).
template <int S>
struct TcStage {
  static constexpr int value = S;
};

template <int BM_, int BN_, int WM_, int WN_>
struct TcCfg {
  static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_;
  static constexpr int WARPS_N = BN / WN, WARPS = (BM / WM) * WARPS_N, THREADS = WARPS * 32;
  static constexpr int MT = WM / 16, NT = WN / 8;
  // Per stage: BM + BN rows of 80 bytes (4 chunks of 16 bytes each, any
  // format).
  static constexpr int SMEM_BYTES = TC_STAGES * (BM + BN) * 80;
  static constexpr int A_CHUNKS = BM * 4 / THREADS, B_CHUNKS = BN * 4 / THREADS;
  static_assert(A_CHUNKS * THREADS == BM * 4 && B_CHUNKS * THREADS == BN * 4, "chunks per thread");
  static_assert(NT % 2 == 0, "B fragments are loaded two n8 tiles at a time");
};
typedef TcCfg<128, 128, 64, 32> TcLarge;  // 8 warps, 256 threads, 60 KB shared
typedef TcCfg<64, 64, 32, 32> TcSmall;    // 4 warps, 128 threads, 30 KB shared

// Operands may keep per-K-tile state shared by all of a thread's chunks
// (Tile: first(), next() once per K tile); the operands whose chunks are
// independent use TcNoTile.
struct TcNoTile {};
#define TC_NO_TILE                                                          \
  typedef F Fmt;                                                            \
  typedef typename F::T T;                                                  \
  typedef TcNoTile Tile;                                                    \
  __device__ __forceinline__ TcNoTile first() const { return TcNoTile{}; } \
  __device__ __forceinline__ void next(TcNoTile&) const {}

// TcRows is a plain row operand: row r of a row-major [rows][K] matrix
// of F::T. Its cursor walks one thread's chunk of one row along K.
template <class F>
struct TcRows {
  TC_NO_TILE
  const T* p;
  int rows, K;
  struct Cursor {
    const T* p;
    int k, K;
    bool ok;
  };
  __device__ __forceinline__ Cursor start(int r, int k) const {
    Cursor c;
    c.ok = r < rows;
    c.p = p + (size_t)(c.ok ? r : 0) * K + k;
    c.k = k;
    c.K = K;
    return c;
  }
  // chunk reports whether the chunk has data and sets src to its address
  // (to the operand's own base when it is all zero: zero-filled, nothing
  // read). Every operand's chunk does the same.
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    const bool v = c.ok && c.k < c.K;
    src = v ? c.p : p;
    return v;
  }
  __device__ __forceinline__ static void advance(Cursor& c) {
    c.p += F::BK;
    c.k += F::BK;
  }
};

// TcIm2colNHWC is the B operand of the forward convolution: row q =
// (n, oh, ow) of the output, k = (kh, kw, ci) with ci fastest, read from x
// in NHWC; zero in the padding. Cin must be a multiple of F::CE, so a
// chunk of CE consecutive k is CE consecutive channels of one pixel.
template <class F>
struct TcIm2colNHWC {
  TC_NO_TILE
  const T* x;
  int rows, Cin, H, W, KS, stride, pad, Ho, Wo, K;
  struct Cursor {
    const T* img;  // x + n*H*W*Cin
    int ih0, iw0, kh, kw, ci, k;
    bool ok;
  };
  __device__ __forceinline__ Cursor start(int q, int k) const {
    Cursor c;
    c.ok = q < rows;
    const int qq = c.ok ? q : 0, P = Ho * Wo;
    const int n = qq / P, p = qq - n * P, oh = p / Wo, ow = p - oh * Wo;
    c.img = x + (size_t)n * H * W * Cin;
    c.ih0 = oh * stride - pad;
    c.iw0 = ow * stride - pad;
    c.k = k;
    c.ci = k;
    c.kh = 0;
    c.kw = 0;
    while (c.ci >= Cin) {  // k < BK here: a few steps at most
      c.ci -= Cin;
      if (++c.kw == KS) {
        c.kw = 0;
        ++c.kh;
      }
    }
    return c;
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    const int ih = c.ih0 + c.kh, iw = c.iw0 + c.kw;
    src = x;
    if (!c.ok || c.k >= K || ih < 0 || ih >= H || iw < 0 || iw >= W) return false;
    src = c.img + ((size_t)ih * W + iw) * Cin + c.ci;
    return true;
  }
  __device__ __forceinline__ void advance(Cursor& c) const {
    c.k += F::BK;
    c.ci += F::BK;
    while (c.ci >= Cin) {
      c.ci -= Cin;
      if (++c.kw == KS) {
        c.kw = 0;
        ++c.kh;
      }
    }
  }
};

// ---- tap-uniform operands (the _tap kernels; C % F::BK == 0) ----
//
// When the reduction's channel count (Cin for the forward, Cout for the
// data gradient) is a multiple of the K tile F::BK (32 bf16, 16 tf32), K
// = C*K*K is a multiple of BK and every K tile lies inside one tap (kh,
// kw) and one BK-channel block ci0: the tap is the same for every chunk
// of the block.
// So the tap walk is kept once per thread in a Tile (first(), next() per K
// tile: an add and two rare carries), each chunk keeps only its pixel, and
// a chunk costs two bounds tests and one address add; there is no K-tail
// test (numK = K/BK exactly). The A operand is TcRowsFull.

// TcRowsFull is TcRows for K % BK == 0: no K-tail test; its chunk is the
// row pointer, advanced by BK per tile (rows past M: zero-filled).
template <class F>
struct TcRowsFull {
  TC_NO_TILE
  const T* p;
  int rows, K;
  struct Cursor {
    const T* p;
    bool ok;
  };
  __device__ __forceinline__ Cursor start(int r, int k) const {
    Cursor c;
    c.ok = r < rows;
    c.p = p + (size_t)(c.ok ? r : 0) * K + k;
    return c;
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    src = c.ok ? c.p : p;
    return c.ok;
  }
  __device__ __forceinline__ static void advance(Cursor& c) { c.p += F::BK; }
};

// TcTapTile is the block-uniform tap of the current K tile: (kh, kw), the
// channel block's first channel ci and off = (kh*W + kw)*C + ci, the
// element offset of the tap from the window origin (W: the gathered
// image's width, C its channels).
struct TcTapTile {
  int kh, kw, ci, off;
};
template <int BK>
__device__ __forceinline__ void tc_tap_next(TcTapTile& t, int C, int KS, int W) {
  t.ci += BK;
  t.off += BK;
  if (t.ci == C) {
    t.ci = 0;
    if (++t.kw == KS) {
      t.kw = 0;
      ++t.kh;
      t.off += (W - KS) * C;
    }
  }
}

// TcIm2colTap is TcIm2colNHWC for Cin % BK == 0. A chunk keeps its window
// origin (ih0, iw0; rows past N get an origin no tap can bring into the
// image) and the address of the origin's channel kc (possibly outside x:
// only formed into a load when the tap is inside the image).
template <class F>
struct TcIm2colTap {
  typedef F Fmt;
  typedef typename F::T T;
  typedef TcTapTile Tile;
  const T* x;
  int rows, Cin, H, W, KS, stride, pad, Ho, Wo;
  struct Cursor {
    const T* org;  // x + ((n*H + ih0)*W + iw0)*Cin + kc
    int ih0, iw0;
  };
  __device__ __forceinline__ Cursor start(int q, int kc) const {
    Cursor c;
    const bool ok = q < rows;
    const int qq = ok ? q : 0, P = Ho * Wo;
    const int n = qq / P, p = qq - n * P, oh = p / Wo, ow = p - oh * Wo;
    const int ih0 = oh * stride - pad;
    c.iw0 = ow * stride - pad;
    c.org = x + ((ptrdiff_t)(n * H + ih0) * W + c.iw0) * Cin + kc;
    c.ih0 = ok ? ih0 : -(1 << 28);
    return c;
  }
  __device__ __forceinline__ Tile first() const { return Tile{0, 0, 0, 0}; }
  __device__ __forceinline__ void next(Tile& t) const { tc_tap_next<F::BK>(t, Cin, KS, W); }
  __device__ __forceinline__ bool chunk(const Cursor& c, const Tile& t, const T*& src) const {
    const bool v = (unsigned)(c.ih0 + t.kh) < (unsigned)H && (unsigned)(c.iw0 + t.kw) < (unsigned)W;
    src = v ? c.org + t.off : x;
    return v;
  }
  __device__ __forceinline__ static void advance(Cursor&) {}
};

// TcDyGatherTap is TcDyGatherNHWC for Cout % BK == 0 (stride 1 or 2:
// sh = stride - 1 is the shift and the parity mask). The tap's offset in
// dy depends on the parity of (h + pad - kh), so the Tile keeps only the
// tap and each chunk computes oh, ow.
template <class F>
struct TcDyGatherTap {
  typedef F Fmt;
  typedef typename F::T T;
  typedef TcTapTile Tile;
  const T* dy;
  int rows, Cout, H, W, KS, stride, pad, Ho, Wo;
  struct Cursor {
    const T* img;  // dy + n*Ho*Wo*Cout + kc
    int th0, tw0;               // h + pad, w + pad
  };
  __device__ __forceinline__ Cursor start(int q, int kc) const {
    Cursor c;
    const bool ok = q < rows;
    const int qq = ok ? q : 0, HW = H * W;
    const int n = qq / HW, hw = qq - n * HW, h = hw / W, w = hw - h * W;
    c.img = dy + (size_t)n * Ho * Wo * Cout + kc;
    c.th0 = ok ? h + pad : -(1 << 28);
    c.tw0 = w + pad;
    return c;
  }
  __device__ __forceinline__ Tile first() const { return Tile{0, 0, 0, 0}; }
  __device__ __forceinline__ void next(Tile& t) const {
    t.ci += F::BK;
    if (t.ci == Cout) {
      t.ci = 0;
      if (++t.kw == KS) {
        t.kw = 0;
        ++t.kh;
      }
    }
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const Tile& t, const T*& src) const {
    const int sh = stride - 1;
    const int oh2 = c.th0 - t.kh, ow2 = c.tw0 - t.kw, oh = oh2 >> sh, ow = ow2 >> sh;
    src = dy;
    if (((oh2 | ow2) & sh) || (unsigned)oh >= (unsigned)Ho || (unsigned)ow >= (unsigned)Wo) return false;
    src = c.img + (oh * Wo + ow) * Cout + t.ci;
    return true;
  }
  __device__ __forceinline__ static void advance(Cursor&) {}
};

// TcDyGatherNHWC is the B operand of the data gradient of a convolution
// with stride 1 or 2: row q = (n, h, w) of dx, k = (kh, kw, co) with co
// fastest, B[q][k] = dy[n][oh][ow][co] (NHWC) where oh*stride - pad +
// kh == h and ow*stride - pad + kw == w, else zero. Cout must be a
// multiple of F::CE. The stride is tested with a bit test, not a modulo.
template <class F>
struct TcDyGatherNHWC {
  TC_NO_TILE
  const T* dy;
  int rows, Cout, H, W, KS, stride, pad, Ho, Wo, K;
  struct Cursor {
    const T* img;  // dy + n*Ho*Wo*Cout
    int th0, tw0, kh, kw, co, k;
    bool ok;
  };
  __device__ __forceinline__ Cursor start(int q, int k) const {
    Cursor c;
    c.ok = q < rows;
    const int qq = c.ok ? q : 0, HW = H * W;
    const int n = qq / HW, hw = qq - n * HW, h = hw / W, w = hw - h * W;
    c.img = dy + (size_t)n * Ho * Wo * Cout;
    c.th0 = h + pad;
    c.tw0 = w + pad;
    c.k = k;
    c.co = k;
    c.kh = 0;
    c.kw = 0;
    while (c.co >= Cout) {
      c.co -= Cout;
      if (++c.kw == KS) {
        c.kw = 0;
        ++c.kh;
      }
    }
    return c;
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    int oh = c.th0 - c.kh, ow = c.tw0 - c.kw;
    src = dy;
    if (!c.ok || c.k >= K || oh < 0 || ow < 0) return false;
    if (stride == 2) {
      if ((oh | ow) & 1) return false;
      oh >>= 1;
      ow >>= 1;
    }
    if (oh >= Ho || ow >= Wo) return false;
    src = c.img + ((size_t)oh * Wo + ow) * Cout + c.co;
    return true;
  }
  __device__ __forceinline__ void advance(Cursor& c) const {
    c.k += F::BK;
    c.co += F::BK;
    while (c.co >= Cout) {
      c.co -= Cout;
      if (++c.kw == KS) {
        c.kw = 0;
        ++c.kh;
      }
    }
  }
};

// tc_epilogue hands each in-range accumulator of the warp tile at (wm0,
// wn0) to the store functor, which is separable: the address of element
// (m, n) is store.row(m) + store.col(n). The thread's MT*2 rows and NT*2
// columns are resolved once each (a column may divide: NCHW pixel, filter
// tap), then each element costs an add and a store.
template <class Cfg, class S>
__device__ __forceinline__ void tc_epilogue(int M, int N, int wm0, int wn0, int lane,
                                            const float (&acc)[Cfg::MT][Cfg::NT][4], const S& store) {
  const int g = lane >> 2, t = lane & 3;
  typename S::Row rows[Cfg::MT][2];
  bool rok[Cfg::MT][2];
SIMCLR_UNROLL
  for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int m = wm0 + i * 16 + g + 8 * h;
      rok[i][h] = m < M;
      rows[i][h] = store.row(rok[i][h] ? m : 0);
    }
SIMCLR_UNROLL
  for (int j = 0; j < Cfg::NT; ++j)
SIMCLR_UNROLL
    for (int c = 0; c < 2; ++c) {
      const int n = wn0 + j * 8 + 2 * t + c;
      if (n >= N) continue;
      const typename S::Col col = store.col(n);
SIMCLR_UNROLL
      for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
        for (int h = 0; h < 2; ++h)
          if (rok[i][h]) store.put(rows[i][h], col, acc[i][j][2 * h + c]);
    }
}

// G (1 or 2) is how many of a thread's chunks share one cursor: with G =
// 2 a thread's chunks come in pairs that are adjacent along the row (k
// and k + CE here, m / n and m / n + CE in gemm_tc_tn), the pair's second
// chunk is the first's address + CE elements and has the first's
// validity. Only for operands where that holds (the _tap kernels: the
// pair lies in one tap and one row, and a zero-filled pair's address + CE
// stays inside the operand, which has at least 2 CE elements).
//
// tc_load_chunks copies one operand's chunks of the next K tile into the
// stage at element offset so (cp.async.cg, zero-filled where the operand
// says the chunk has no data) and advances the cursors.
template <int G, int NC, class O, class S>
__device__ __forceinline__ void tc_load_chunks(S& smem, int so, const O& op, typename O::Cursor (&cur)[NC],
                                               const int (&off)[NC], const typename O::Tile& tile) {
  typedef typename O::Fmt F;
SIMCLR_UNROLL
  for (int i = 0; i < NC; ++i) {
    const typename F::T* src;
    const bool v = op.chunk(cur[i], tile, src);
SIMCLR_UNROLL
    for (int h = 0; h < G; ++h) cp_async_cg16(smem, so + off[i] + F::CE * h, src + F::CE * h, v ? 16 : 0);
    op.advance(cur[i]);
  }
}

template <class OA, class OB>
struct TcSameFmt {
  typedef typename OA::Fmt F;
  static_assert(std::is_same<F, typename OB::Fmt>::value, "both operands of one GEMM have one format");
};

template <class Cfg, int G = 1, class OA, class OB, class S>
__device__ __forceinline__ void gemm_tc(int M, int N, int K, const OA& opA, const OB& opB, const S& store) {
  typedef typename TcSameFmt<OA, OB>::F F;
  static_assert((G == 1 || G == 2) && Cfg::A_CHUNKS % G == 0 && Cfg::B_CHUNKS % G == 0, "chunk groups");
  constexpr int AC = Cfg::A_CHUNKS / G, BC = Cfg::B_CHUNKS / G;
  constexpr int A_ELEMS = Cfg::BM * F::LDS, STAGE = (Cfg::BM + Cfg::BN) * F::LDS;
  TC_SMEM(F, tc_smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / Cfg::WARPS_N, wn = warp - wm * Cfg::WARPS_N;
  const int m0 = blockIdx.y * Cfg::BM, n0 = blockIdx.x * Cfg::BN;
  typename OA::Cursor ca[AC];
  typename OB::Cursor cb[BC];
  int aoff[AC], boff[BC];
SIMCLR_UNROLL
  for (int i = 0; i < AC; ++i) {
    const int c = (tid + i * Cfg::THREADS) * G, row = c >> 2, kc = (c & 3) * F::CE;
    ca[i] = opA.start(m0 + row, kc);
    aoff[i] = row * F::LDS + kc;
  }
SIMCLR_UNROLL
  for (int i = 0; i < BC; ++i) {
    const int c = (tid + i * Cfg::THREADS) * G, row = c >> 2, kc = (c & 3) * F::CE;
    cb[i] = opB.start(n0 + row, kc);
    boff[i] = A_ELEMS + row * F::LDS + kc;
  }
  // load_stage copies the next K tile of this thread's chunks into stage
  // slot s (element offset so = s * STAGE) and advances the cursors.
  typename OA::Tile ta = opA.first();
  typename OB::Tile tb = opB.first();
  auto load_stage = [&](int so) {
    tc_load_chunks<G>(tc_smem, so, opA, ca, aoff, ta);
    tc_load_chunks<G>(tc_smem, so, opB, cb, boff, tb);
    opA.next(ta);
    opB.next(tb);
  };
  const int numK = (K + F::BK - 1) / F::BK;
SIMCLR_UNROLL
  for (int s = 0; s < TC_STAGES - 1; ++s) {
    if (s < numK) load_stage(s * STAGE);
    cp_async_commit();
  }
  float acc[Cfg::MT][Cfg::NT][4];
SIMCLR_UNROLL
  for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
    for (int j = 0; j < Cfg::NT; ++j)
SIMCLR_UNROLL
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  // Per-lane ldmatrix offsets within a stage (A: rows of x4 matrices
  // 0..3 = (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15,
  // k 8-15); B: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7),
  // (n 8-15, k 8-15), in bf16 k; each k half is one 16-byte chunk, CE
  // elements: in tf32 k 0-3 and 4-7, the fragments a0..a3, b0, b1 of
  // m16n8k8).
  const int aLane = (wm * Cfg::WM + (lane & 15)) * F::LDS + (lane >> 4) * F::CE;
  const int bLane = A_ELEMS + (wn * Cfg::WN + (lane & 7) + ((lane >> 4) << 3)) * F::LDS + ((lane >> 3) & 1) * F::CE;
  // One K tile in stage slot s (a compile-time constant: the K loop is
  // unrolled by TC_STAGES, so every shared-memory address is a register
  // plus an immediate and nothing rotates at run time): wait for it,
  // barrier, issue the copy of tile kt + 2 into the slot read in the
  // previous tile, multiply.
  auto tile = [&](auto stage, int kt) {
    constexpr int rs = decltype(stage)::value * STAGE;
    constexpr int ws = (decltype(stage)::value + TC_STAGES - 1) % TC_STAGES * STAGE;
    cp_async_wait<TC_STAGES - 2>();
    __syncthreads();  // stage kt visible to all; slot ws no longer read
    if (kt + TC_STAGES - 1 < numK) load_stage(ws);
    cp_async_commit();
SIMCLR_UNROLL
    for (int kk = 0; kk < F::BK; kk += F::KSTEP) {
      unsigned af[Cfg::MT][4], bfr[Cfg::NT][2];
SIMCLR_UNROLL
      for (int i = 0; i < Cfg::MT; ++i) ldmatrix_x4(af[i], tc_smem, rs + aLane + i * 16 * F::LDS + kk);
SIMCLR_UNROLL
      for (int j = 0; j < Cfg::NT; j += 2) {
        unsigned r[4];
        ldmatrix_x4(r, tc_smem, rs + bLane + j * 8 * F::LDS + kk);
        bfr[j][0] = r[0];
        bfr[j][1] = r[1];
        bfr[j + 1][0] = r[2];
        bfr[j + 1][1] = r[3];
      }
SIMCLR_UNROLL
      for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
        for (int j = 0; j < Cfg::NT; ++j) F::mma(acc[i][j], af[i], bfr[j]);
    }
  };
  static_assert(TC_STAGES == 3, "the K loop is unrolled by 3");
  for (int kt = 0; kt < numK; kt += TC_STAGES) {
    tile(TcStage<0>(), kt);
    if (kt + 1 < numK) tile(TcStage<1>(), kt + 1);
    if (kt + 2 < numK) tile(TcStage<2>(), kt + 2);
  }
  cp_async_wait<0>();
  tc_epilogue<Cfg>(M, N, m0 + wm * Cfg::WM, n0 + wn * Cfg::WN, lane, acc, store);
}

// ---- the K-major variant (filter gradient) ----
//
// gemm_tc_tn computes C[m,n] = sum_{k in [kBegin,kEnd)} A[k,m] * B[k,n]
// with both operands M- (N-) contiguous: each stage holds a BK x BM A tile
// and a BK x BN B tile stored [k][m] / [k][n] (rows padded by 8 elements
// to BM+8: 272 bytes for 128 bf16, rows 4 banks apart; 544 bytes for 128
// tf32, rows 8 banks apart), and the fragments come from
// ldmatrix.x4.trans (bf16) or scalar shared loads (tf32: .trans would
// split 32-bit elements; lanes (g, t) read [t][g] of an 8-bank-skewed
// array, conflict-free). Operand cursors walk one CE-wide M (N) chunk of
// one k row down K by BK rows per stage. Used where the reduction runs
// over pixels (the filter gradient: A = dy, B = im2col(x), both NHWC).
template <class Cfg, class F>
struct TcTnCfg {
  static constexpr int LDA = Cfg::BM + 8, LDB = Cfg::BN + 8;
  static constexpr int A_ELEMS = F::BK * LDA, STAGE = F::BK * (LDA + LDB);
  static constexpr int SMEM_BYTES = TC_STAGES * STAGE * (int)sizeof(typename F::T);
  static constexpr int A_PER_ROW = Cfg::BM / F::CE, B_PER_ROW = Cfg::BN / F::CE;
  static_assert(F::BK * A_PER_ROW == Cfg::A_CHUNKS * Cfg::THREADS && F::BK * B_PER_ROW == Cfg::B_CHUNKS * Cfg::THREADS,
                "chunks per thread");
};

// TnFrag<F> loads the K-major core's fragments of one k step: the lane
// offsets (aLane, bLane: within the A and B tiles of a stage) and the
// loads from base offsets a = stage + aLane + kk*LDA, b likewise.
template <class F>
struct TnFrag;
template <>
struct TnFrag<TcBF16> {
  // ldmatrix.x4.trans: matrix j = lane >> 3 of A is (k 0-7, m 0-7),
  // (k 0-7, m 8-15), (k 8-15, m 0-7), (k 8-15, m 8-15) = a0..a3; of B
  // (k 0-7, n 0-7), (k 8-15, n 0-7), (k 0-7, n 8-15), (k 8-15, n 8-15) =
  // b0, b1 of two n8 tiles.
  static __device__ __forceinline__ int a_lane(int lane, int LDA) {
    const int j = lane >> 3, r8 = lane & 7;
    return ((j >> 1) * 8 + r8) * LDA + (j & 1) * 8;
  }
  static __device__ __forceinline__ int b_lane(int lane, int LDB) {
    const int j = lane >> 3, r8 = lane & 7;
    return ((j & 1) * 8 + r8) * LDB + (j >> 1) * 8;
  }
  template <class Cfg, int LDA, int LDB, class S>
  static __device__ __forceinline__ void load(unsigned (&af)[Cfg::MT][4], unsigned (&bfr)[Cfg::NT][2], S& s, int a,
                                              int b) {
SIMCLR_UNROLL
    for (int i = 0; i < Cfg::MT; ++i) ldmatrix_x4_trans(af[i], s, a + i * 16);
SIMCLR_UNROLL
    for (int j = 0; j < Cfg::NT; j += 2) {
      unsigned r[4];
      ldmatrix_x4_trans(r, s, b + j * 8);
      bfr[j][0] = r[0];
      bfr[j][1] = r[1];
      bfr[j + 1][0] = r[2];
      bfr[j + 1][1] = r[3];
    }
  }
};
template <>
struct TnFrag<TcTF32> {
  // m16n8k8 tf32: a0 (m g, k t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
  // b0 (k t, n g), b1 (t+4, g). Stored [k][m] / [k][n]: lane (g, t)
  // starts at row t, column g.
  static __device__ __forceinline__ int a_lane(int lane, int LDA) { return (lane & 3) * LDA + (lane >> 2); }
  static __device__ __forceinline__ int b_lane(int lane, int LDB) { return (lane & 3) * LDB + (lane >> 2); }
  template <class Cfg, int LDA, int LDB, class S>
  static __device__ __forceinline__ void load(unsigned (&af)[Cfg::MT][4], unsigned (&bfr)[Cfg::NT][2], S& s, int a,
                                              int b) {
SIMCLR_UNROLL
    for (int i = 0; i < Cfg::MT; ++i) {
      af[i][0] = __float_as_uint(s[a + i * 16]);
      af[i][1] = __float_as_uint(s[a + i * 16 + 8]);
      af[i][2] = __float_as_uint(s[a + i * 16 + 4 * LDA]);
      af[i][3] = __float_as_uint(s[a + i * 16 + 4 * LDA + 8]);
    }
SIMCLR_UNROLL
    for (int j = 0; j < Cfg::NT; ++j) {
      bfr[j][0] = __float_as_uint(s[b + j * 8]);
      bfr[j][1] = __float_as_uint(s[b + j * 8 + 4 * LDB]);
    }
  }
};

// TcKRows is a K-major operand: element (k, m) of a row-major [Krows][M]
// matrix of F::T (dy in NHWC: k = pixel, m = channel). M % CE == 0.
template <class F>
struct TcKRows {
  TC_NO_TILE
  const T* p;
  int M, kEnd;
  struct Cursor {
    const T* p;
    int k;
    bool ok;
  };
  __device__ __forceinline__ Cursor start(int k, int m) const {
    Cursor c;
    c.ok = m < M;
    c.k = k;
    c.p = p + (size_t)k * M + (c.ok ? m : 0);
    return c;
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    const bool v = c.ok && c.k < kEnd;
    src = v ? c.p : p;
    return v;
  }
  __device__ __forceinline__ void advance(Cursor& c) const {
    c.k += F::BK;
    c.p += (size_t)F::BK * M;
  }
};

// TcIm2colK is the im2col of x (NHWC) K-major: element (q, r) with q =
// (n, oh, ow) the output pixel and r = (kh, kw, ci), ci fastest: x[n][oh*s
// - pad + kh][ow*s - pad + kw][ci], zero in the padding. Cin % CE == 0. A
// thread's chunk keeps its r (tap and channels) for the whole K loop; its
// pixel advances by BK per K tile as a mixed-radix add of the constant
// (dn, doh, dow) = BK in (n, oh, ow) digits (set_step, once per thread),
// one carry per digit: no division, no loop.
template <class F>
struct TcIm2colK {
  TC_NO_TILE
  const T* x;
  int Cin, H, W, KS, stride, pad, Ho, Wo, R, kEnd;
  int dn, doh, dow;
  __device__ __forceinline__ void set_step() {
    const int P = Ho * Wo;
    dn = F::BK / P;
    const int rem = F::BK - dn * P;
    doh = rem / Wo;
    dow = rem - doh * Wo;
  }
  struct Cursor {
    const T* xc;                 // x + ci
    int n, oh, ow, q, khp, kwp;  // khp = kh - pad, kwp = kw - pad; q past kEnd for r >= R
  };
  __device__ __forceinline__ Cursor start(int q, int r) const {
    Cursor c;
    const bool ok = r < R;
    const int rr = ok ? r : 0, P = Ho * Wo;
    const int ci = rr % Cin, t = rr / Cin, kw = t % KS, kh = t / KS;
    c.xc = x + ci;
    c.khp = kh - pad;
    c.kwp = kw - pad;
    c.q = ok ? q : kEnd + (1 << 29);  // a column past R never reaches kEnd
    c.n = q / P;
    const int p = q - c.n * P;
    c.oh = p / Wo;
    c.ow = p - c.oh * Wo;
    return c;
  }
  __device__ __forceinline__ bool chunk(const Cursor& c, const TcNoTile&, const T*& src) const {
    const int ih = c.oh * stride + c.khp, iw = c.ow * stride + c.kwp;
    // Branch-free: the address is formed for every chunk and selected (a
    // window in the padding gives an address before or past x, never read).
    const bool v = c.q < kEnd && (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W;
    src = v ? c.xc + (ptrdiff_t)((c.n * H + ih) * W + iw) * Cin : x;
    return v;
  }
  __device__ __forceinline__ void advance(Cursor& c) const {
    c.q += F::BK;
    c.ow += dow;
    int carry = c.ow >= Wo;
    c.ow -= carry ? Wo : 0;
    c.oh += doh + carry;
    carry = c.oh >= Ho;
    c.oh -= carry ? Ho : 0;
    c.n += dn + carry;
  }
};

template <class Cfg, int G = 1, class OA, class OB, class S>
__device__ __forceinline__ void gemm_tc_tn(int M, int N, int kBegin, int kEnd, const OA& opA, const OB& opB,
                                           const S& store) {
  typedef typename TcSameFmt<OA, OB>::F F;
  typedef TcTnCfg<Cfg, F> T;
  static_assert((G == 1 || G == 2) && Cfg::A_CHUNKS % G == 0 && Cfg::B_CHUNKS % G == 0 && T::A_PER_ROW % G == 0 &&
                    T::B_PER_ROW % G == 0,
                "chunk groups");
  constexpr int AC = Cfg::A_CHUNKS / G, BC = Cfg::B_CHUNKS / G;
  TC_SMEM(F, tc_smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / Cfg::WARPS_N, wn = warp - wm * Cfg::WARPS_N;
  const int m0 = blockIdx.y * Cfg::BM, n0 = blockIdx.x * Cfg::BN;
  typename OA::Cursor ca[AC];
  typename OB::Cursor cb[BC];
  int aoff[AC], boff[BC];
SIMCLR_UNROLL
  for (int i = 0; i < AC; ++i) {
    const int c = (tid + i * Cfg::THREADS) * G, kr = c / T::A_PER_ROW, mc = (c - kr * T::A_PER_ROW) * F::CE;
    ca[i] = opA.start(kBegin + kr, m0 + mc);
    aoff[i] = kr * T::LDA + mc;
  }
SIMCLR_UNROLL
  for (int i = 0; i < BC; ++i) {
    const int c = (tid + i * Cfg::THREADS) * G, kr = c / T::B_PER_ROW, nc = (c - kr * T::B_PER_ROW) * F::CE;
    cb[i] = opB.start(kBegin + kr, n0 + nc);
    boff[i] = T::A_ELEMS + kr * T::LDB + nc;
  }
  typename OA::Tile ta = opA.first();
  typename OB::Tile tb = opB.first();
  auto load_stage = [&](int so) {
    tc_load_chunks<G>(tc_smem, so, opA, ca, aoff, ta);
    tc_load_chunks<G>(tc_smem, so, opB, cb, boff, tb);
    opA.next(ta);
    opB.next(tb);
  };
  const int numK = kEnd > kBegin ? (kEnd - kBegin + F::BK - 1) / F::BK : 0;
SIMCLR_UNROLL
  for (int s = 0; s < TC_STAGES - 1; ++s) {
    if (s < numK) load_stage(s * T::STAGE);
    cp_async_commit();
  }
  float acc[Cfg::MT][Cfg::NT][4];
SIMCLR_UNROLL
  for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
    for (int j = 0; j < Cfg::NT; ++j)
SIMCLR_UNROLL
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  const int aLane = TnFrag<F>::a_lane(lane, T::LDA) + wm * Cfg::WM;
  const int bLane = T::A_ELEMS + TnFrag<F>::b_lane(lane, T::LDB) + wn * Cfg::WN;
  auto tile = [&](auto stage, int kt) {  // as in gemm_tc
    constexpr int rs = decltype(stage)::value * T::STAGE;
    constexpr int ws = (decltype(stage)::value + TC_STAGES - 1) % TC_STAGES * T::STAGE;
    cp_async_wait<TC_STAGES - 2>();
    __syncthreads();
    if (kt + TC_STAGES - 1 < numK) load_stage(ws);
    cp_async_commit();
SIMCLR_UNROLL
    for (int kk = 0; kk < F::BK; kk += F::KSTEP) {
      unsigned af[Cfg::MT][4], bfr[Cfg::NT][2];
      TnFrag<F>::template load<Cfg, T::LDA, T::LDB>(af, bfr, tc_smem, rs + aLane + kk * T::LDA, rs + bLane + kk * T::LDB);
SIMCLR_UNROLL
      for (int i = 0; i < Cfg::MT; ++i)
SIMCLR_UNROLL
        for (int jj = 0; jj < Cfg::NT; ++jj) F::mma(acc[i][jj], af[i], bfr[jj]);
    }
  };
  static_assert(TC_STAGES == 3, "the K loop is unrolled by 3");
  for (int kt = 0; kt < numK; kt += TC_STAGES) {
    tile(TcStage<0>(), kt);
    if (kt + 1 < numK) tile(TcStage<1>(), kt + 1);
    if (kt + 2 < numK) tile(TcStage<2>(), kt + 2);
  }
  cp_async_wait<0>();
  tc_epilogue<Cfg>(M, N, m0 + wm * Cfg::WM, n0 + wn * Cfg::WN, lane, acc, store);
}

#endif  // SIMCLR_GEMM_TC_CUH
