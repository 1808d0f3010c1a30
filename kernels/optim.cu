// optim.cu - optimiser updates, applied in place, one thread per element.
//
//   momentum_step (PyTorch SGD, dampening 0; LARS passes its trust ratio):
//     d = g (+ wd*p when wd != 0); d = tr*d when tr != 1;
//     buf = first ? d : mom*buf + d; step = nesterov ? d + mom*buf : buf;
//     p -= lr*step.
//   adamw_step (PyTorch AdamW; the host computes decay = 1 - lr*wd,
//     stepSize = lr/(1-beta1^t) and bc2Sqrt = sqrt(1-beta2^t) in float64):
//     p *= decay; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
//     p -= stepSize * m/(sqrt(v)/bc2Sqrt + eps).
// Every operation is rounded to float32 separately (__fmul_rn/__fadd_rn,
// never contracted into an FMA), so the results equal the CPU backend's.
// Launch: 1-D grid-stride loop, block 256.
#include "common.cuh"

extern "C" __global__ void momentum_step(float* p, const float* g, float* buf, int n, float lr, float mom,
                                         float wd, float tr, int nesterov, int first) {
  GRID_STRIDE(i, n) {
    const float x = p[i];
    float d = g[i];
    if (wd != 0.0f) d = fadd_rn(d, fmul_rn(wd, x));
    if (tr != 1.0f) d = fmul_rn(tr, d);
    const float m = first ? d : fadd_rn(fmul_rn(mom, buf[i]), d);
    buf[i] = m;
    const float step = nesterov ? fadd_rn(d, fmul_rn(mom, m)) : m;
    p[i] = fsub_rn(x, fmul_rn(lr, step));
  }
}

extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, int n, float decay,
                                      float beta1, float beta2, float oneMinusB1, float oneMinusB2,
                                      float stepSize, float bc2Sqrt, float eps) {
  GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float x = fmul_rn(p[i], decay);
    const float mi = fadd_rn(fmul_rn(beta1, m[i]), fmul_rn(oneMinusB1, gi));
    const float vi = fadd_rn(fmul_rn(beta2, v[i]), fmul_rn(oneMinusB2, fmul_rn(gi, gi)));
    m[i] = mi;
    v[i] = vi;
    const float denom = fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2Sqrt), eps);
    p[i] = fsub_rn(x, fmul_rn(stepSize, __fdiv_rn(mi, denom)));
  }
}
