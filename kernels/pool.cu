/*
 * Pooling, NCHW, on the GPU: the twin of native/pool.c.
 *
 * Max pooling treats padding as -infinity and keeps no index buffer: the
 * backward pass finds the same first maximum again in each window. It runs
 * one thread per INPUT element, which gathers the gradient of every window
 * that picked it, in window order: no two threads write the same dx and no
 * atomics are needed, and the sum is added in the same order as the C code.
 */
#include <math.h>

#include "common.cuh"

/* Threads per block of the warp-per-row kernels (8 rows per block). */
#define ROW_THREADS 256

/* ---- max pooling ---- */

/* One thread per output: the max of its window, scanned in row-major order.
 * Padding is skipped, which is the same as -infinity. NaN wins, as in
 * PyTorch (and the C code), so a diverging network shows up in the output. */
static __global__ void maxpool_forward_kernel(const real *x, real *y,
                                              int64_t total, int h, int wd,
                                              int kh, int kw, int sh, int sw,
                                              int ph, int pw, int oh, int ow) {
  ADV_FOR(o, total) {
    const int ox = (int)(o % ow);
    const int64_t t = o / ow;
    const int oy = (int)(t % oh);
    const int64_t p = t / oh; /* plane: sample * c + channel */
    const real *xp = x + p * h * wd;
    real m = -INFINITY;
    for (int ki = 0; ki < kh; ki++) {
      const int iy = oy * sh - ph + ki;
      if (iy < 0 || iy >= h) continue;
      for (int kj = 0; kj < kw; kj++) {
        const int ix = ox * sw - pw + kj;
        if (ix < 0 || ix >= wd) continue;
        const real v = xp[(int64_t)iy * wd + ix];
        m = (v > m || v != v) ? v : m; /* a NaN max stays NaN */
      }
    }
    y[o] = m;
  }
}

/* Index in the plane (iy * wd + ix) of the first maximum of window (oy, ox),
 * the first NaN if there is one: the rule of the C backward. The window always
 * holds a real element (adv_check_pool_geometry: padding < kernel). */
static __device__ inline int64_t window_argmax(const real *xp, int oy, int ox,
                                               int h, int wd, int kh, int kw,
                                               int sh, int sw, int ph, int pw) {
  real m = -INFINITY;
  int64_t best = -1;
  for (int ki = 0; ki < kh; ki++) {
    const int iy = oy * sh - ph + ki;
    if (iy < 0 || iy >= h) continue;
    for (int kj = 0; kj < kw; kj++) {
      const int ix = ox * sw - pw + kj;
      if (ix < 0 || ix >= wd) continue;
      const int64_t idx = (int64_t)iy * wd + ix;
      const real v = xp[idx];
      /* first element, a larger one, or the first NaN */
      if (best < 0 || v > m || (v != v && m == m)) {
        m = v;
        best = idx;
      }
    }
  }
  return best;
}

/* One thread per input element (iy, ix): visits the windows that contain it
 * (oy in [ceil((iy + ph - kh + 1) / sh), (iy + ph) / sh], likewise ox) in
 * row-major order and adds dy of each window whose first argmax it is. The
 * C code adds these in the same order, starting from 0 or from dx. */
static __global__ void maxpool_backward_kernel(const real *x, const real *dy,
                                               real *dx, int64_t total, int h,
                                               int wd, int kh, int kw, int sh,
                                               int sw, int ph, int pw, int oh,
                                               int ow, int accumulate) {
  ADV_FOR(e, total) {
    const int ix = (int)(e % wd);
    const int64_t t = e / wd;
    const int iy = (int)(t % h);
    const int64_t p = t / h;
    const real *xp = x + p * h * wd;
    const real *dyp = dy + p * oh * ow;
    const int64_t me = (int64_t)iy * wd + ix;
    const int ay = iy + ph - kh + 1, ax = ix + pw - kw + 1;
    const int oy0 = ay > 0 ? (ay + sh - 1) / sh : 0;
    const int ox0 = ax > 0 ? (ax + sw - 1) / sw : 0;
    const int oy1 = min(oh - 1, (iy + ph) / sh);
    const int ox1 = min(ow - 1, (ix + pw) / sw);
    real acc = accumulate ? dx[e] : 0;
    for (int oy = oy0; oy <= oy1; oy++)
      for (int ox = ox0; ox <= ox1; ox++)
        if (window_argmax(xp, oy, ox, h, wd, kh, kw, sh, sw, ph, pw) == me)
          acc += dyp[(int64_t)oy * ow + ox];
    dx[e] = acc;
  }
}

ADV_API int adv_maxpool_forward(const real *x, real *y, int n, int c, int h,
                                int wd, int kh, int kw, int sh, int sw, int ph,
                                int pw, int oh, int ow) {
  ADV_REQUIRE_CUDA();
  if (adv_check_maxpool_forward(__func__, x, y, n, c, h, wd, kh, kw, sh, sw, ph,
                                pw, oh, ow))
    return 1;
  const int64_t total = (int64_t)n * c * oh * ow;
  maxpool_forward_kernel<<<adv_grid(total), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, y, total, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_maxpool_backward(const real *x, const real *dy, real *dx, int n,
                                 int c, int h, int wd, int kh, int kw, int sh,
                                 int sw, int ph, int pw, int oh, int ow,
                                 int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_maxpool_backward(__func__, x, dy, dx, n, c, h, wd, kh, kw, sh,
                                 sw, ph, pw, oh, ow))
    return 1;
  const int64_t total = (int64_t)n * c * h * wd;
  maxpool_backward_kernel<<<adv_grid(total), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, dy, dx, total, h, wd, kh, kw, sh, sw, ph, pw, oh, ow, accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- global average pooling: x (nc, s) -> y (nc) ---- */

/* One warp per row: each lane sums a strided part of the row in double, then
 * the warp adds the lanes in a fixed butterfly order. */
static __global__ void global_avgpool_forward_kernel(const real *x, real *y,
                                                     int nc, int s) {
  const int lane = threadIdx.x & 31;
  const int64_t row =
      (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= nc) return; /* whole warps leave together */
  const real *xr = x + row * s;
  double sum = 0;
  for (int j = lane; j < s; j += 32) sum += xr[j];
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) y[row] = (real)(sum / s);
}

/* dx[i, j] (+)= dy[i] / s, elementwise. */
static __global__ void global_avgpool_backward_kernel(const real *dy, real *dx,
                                                      int64_t total, int s,
                                                      int accumulate) {
  ADV_FOR(e, total) {
    const real g = (real)(dy[e / s] / (double)s);
    dx[e] = accumulate ? dx[e] + g : g;
  }
}

ADV_API int adv_global_avgpool_forward(const real *x, real *y, int nc, int s) {
  ADV_REQUIRE_CUDA();
  if (adv_check_global_avgpool_forward(__func__, x, y, nc, s)) return 1;
  const int rows_per_block = ROW_THREADS / 32;
  const int blocks = (int)(((int64_t)nc + rows_per_block - 1) / rows_per_block);
  global_avgpool_forward_kernel<<<blocks, ROW_THREADS, 0, adv_cuda_stream()>>>(
      x, y, nc, s);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_global_avgpool_backward(const real *dy, real *dx, int nc, int s,
                                        int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_global_avgpool_backward(__func__, dy, dx, nc, s)) return 1;
  const int64_t total = (int64_t)nc * s;
  global_avgpool_backward_kernel<<<adv_grid(total), ADV_BLOCK, 0,
                                   adv_cuda_stream()>>>(dy, dx, total, s,
                                                        accumulate);
  return adv_cuda_launched(__func__);
}
