/*
 * Softmax and losses over rows of length k on the GPU: the twin of
 * native/loss.c.
 *
 * Every row is made numerically safe the usual way: subtract the row max
 * before exponentiating, and take log-softmax as x - max - log(sum exp).
 * One warp handles one row (k is 10 for the classifiers and at most a few
 * thousand), its lanes taking strided columns; sums are in double and the
 * lanes are combined in a fixed butterfly order. A mean over rows is
 * two-stage: each row's value goes to a scratch buffer (double), then one
 * block adds them in a fixed order, so the loss repeats run to run. No
 * atomics.
 *
 * Difference from C: cross-entropy does not fail on a bad label. The labels
 * are device memory, and checking them on the host would need a copy and a
 * stream sync in every training step, which would stall the CPU/GPU overlap.
 * Instead a row whose label is not an integer in [0, k) gets a NaN loss term
 * (so the forward loss is NaN) and a NaN gradient row (backward), and the
 * call still returns 0. The TypeScript layer validates labels when it loads
 * a data set. The host-side argument checks (pointers, sizes) are as in C.
 */
#include <math.h>

#include "common.cuh"

/* Threads per block of the warp-per-row kernels: 8 rows per block. */
#define ROW_THREADS 256
#define ROWS_PER_BLOCK (ROW_THREADS / 32)
/* Threads of the block that adds the per-row (or per-block) values. */
#define SUM_THREADS 1024
/* Blocks of the first stage of the squared error's sum. */
#define SQ_BLOCKS 1024

static int row_blocks(int n) {
  return (int)(((int64_t)n + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

/* The per-row values of a loss go through the shared scratch buffer (runtime.cu). */
static cudaError_t scratch_get(size_t bytes, double **out) {
  return adv_cuda_scratch(bytes, (void **)out);
}

/* Warp-wide sum and max; every lane gets the result. */
static __device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
static __device__ inline real warp_max(real v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* The row of this warp, or -1 past the last (whole warps leave together, so
 * the shuffles above always see 32 lanes). */
static __device__ inline int warp_row(int n) {
  const int64_t row =
      (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  return row < n ? (int)row : -1;
}

/* Row max and log(sum exp(x - max)) of row xr: lse = max + log(sum). */
static __device__ inline real row_lse(const real *xr, int k, int lane) {
  real m = -INFINITY;
  for (int j = lane; j < k; j += 32) m = fmaxf(m, xr[j]);
  m = warp_max(m);
  double sum = 0;
  for (int j = lane; j < k; j += 32) sum += expf(xr[j] - m);
  sum = warp_sum(sum);
  return m + (real)log(sum);
}

/* Second stage of a mean or sum: out[0] = (sum of part[0..count)) * mul / div,
 * one block of SUM_THREADS, each thread adding a strided slice in order. */
static __global__ void sum_parts_kernel(const double *part, int count,
                                        double mul, double div, real *out) {
  __shared__ double red[32];
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += part[i];
  acc = adv_block_sum(acc, red);
  if (threadIdx.x == 0) out[0] = (real)(acc * mul / div);
}

/* ---- softmax / log-softmax ---- */

/* One warp per row. Works in place (x == y): each lane reads and writes only
 * its own columns, in order. */
static __global__ void softmax_forward_kernel(const real *x, real *y, int n,
                                              int k, int log_softmax) {
  const int i = warp_row(n), lane = threadIdx.x & 31;
  if (i < 0) return;
  const real *xr = x + (int64_t)i * k;
  real *yr = y + (int64_t)i * k;
  if (log_softmax) {
    const real lse = row_lse(xr, k, lane);
    for (int j = lane; j < k; j += 32) yr[j] = xr[j] - lse;
    return;
  }
  real m = -INFINITY;
  for (int j = lane; j < k; j += 32) m = fmaxf(m, xr[j]);
  m = warp_max(m);
  double sum = 0;
  for (int j = lane; j < k; j += 32) {
    const real e = expf(xr[j] - m);
    yr[j] = e;
    sum += e;
  }
  const real inv = (real)(1.0 / warp_sum(sum));
  for (int j = lane; j < k; j += 32) yr[j] *= inv;
}

/* softmax:     dx = y (dy - sum_j dy_j y_j)
 * log-softmax: dx = dy - softmax * sum_j dy_j   (y holds log-probabilities)
 * One warp per row. */
static __global__ void softmax_backward_kernel(const real *y, const real *dy,
                                               real *dx, int n, int k,
                                               int log_softmax,
                                               int accumulate) {
  const int i = warp_row(n), lane = threadIdx.x & 31;
  if (i < 0) return;
  const real *yr = y + (int64_t)i * k, *dyr = dy + (int64_t)i * k;
  real *dxr = dx + (int64_t)i * k;
  double dot = 0;
  if (log_softmax) {
    for (int j = lane; j < k; j += 32) dot += dyr[j];
  } else {
    for (int j = lane; j < k; j += 32) dot += (double)dyr[j] * yr[j];
  }
  const real d = (real)warp_sum(dot);
  for (int j = lane; j < k; j += 32) {
    const real g =
        log_softmax ? dyr[j] - expf(yr[j]) * d : yr[j] * (dyr[j] - d);
    dxr[j] = accumulate ? dxr[j] + g : g;
  }
}

ADV_API int adv_softmax_forward(const real *x, real *y, int n, int k,
                                int log_softmax) {
  ADV_REQUIRE_CUDA();
  if (adv_check_softmax_forward(__func__, x, y, n, k)) return 1;
  softmax_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, adv_cuda_stream()>>>(
      x, y, n, k, log_softmax);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_softmax_backward(const real *y, const real *dy, real *dx, int n,
                                 int k, int log_softmax, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_softmax_backward(__func__, y, dy, dx, n, k)) return 1;
  softmax_backward_kernel<<<row_blocks(n), ROW_THREADS, 0, adv_cuda_stream()>>>(
      y, dy, dx, n, k, log_softmax, accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- cross entropy with integer labels stored as reals ---- */

/* Whether label l is an integer in [0, k), the test of C's check_labels
 * (NaN fails the range test; (int)l is only evaluated once l is in range). */
static __device__ inline bool label_ok(real l, int k) {
  return l >= 0 && l < (real)k && l == (real)(int)l;
}

/* One warp per row: saves the log-softmax and puts -log p[label] in part[i],
 * NaN for a bad label (see the top of the file). */
static __global__ void cross_entropy_forward_kernel(const real *logits,
                                                    const real *labels,
                                                    real *save_logp,
                                                    double *part, int n,
                                                    int k) {
  const int i = warp_row(n), lane = threadIdx.x & 31;
  if (i < 0) return;
  const real *xr = logits + (int64_t)i * k;
  real *lp = save_logp + (int64_t)i * k;
  /* lane 0 reads the label's logit before any lane writes the row, so the
   * result stays right when save_logp == logits (C works in place too); a bad
   * label is never used as an index */
  const real l = labels[i];
  const bool ok = label_ok(l, k);
  const real xl = lane == 0 && ok ? xr[(int)l] : 0;
  const real lse = row_lse(xr, k, lane);
  __syncwarp(); /* orders lane 0's read before the writes below */
  for (int j = lane; j < k; j += 32) lp[j] = xr[j] - lse;
  if (lane == 0) part[i] = ok ? -(double)(xl - lse) : (double)NAN;
}

/* dx (+)= g (softmax - onehot) / n, elementwise; g is read on the device. A
 * row with a bad label gets NaN (see the top of the file). */
static __global__ void cross_entropy_backward_kernel(const real *save_logp,
                                                     const real *labels,
                                                     const real *g, real *dx,
                                                     int n, int k,
                                                     int accumulate) {
  const real scale = (real)((double)g[0] / n);
  ADV_FOR(e, (int64_t)n * k) {
    const int64_t i = e / k;
    const int j = (int)(e - i * k);
    const real l = labels[i];
    const bool ok = label_ok(l, k);
    const int label = ok ? (int)l : -1;
    const real v =
        ok ? scale * (expf(save_logp[e]) - (j == label ? 1 : 0)) : (real)NAN;
    dx[e] = accumulate ? dx[e] + v : v;
  }
}

ADV_API int adv_cross_entropy_forward(const real *logits, const real *labels,
                                      real *loss, real *save_logp, int n,
                                      int k) {
  ADV_REQUIRE_CUDA();
  if (adv_check_cross_entropy_forward(__func__, logits, labels, loss, save_logp,
                                      n, k))
    return 1;
  double *part = NULL;
  ADV_CUDA(scratch_get((size_t)n * sizeof(double), &part));
  cudaStream_t st = adv_cuda_stream();
  cross_entropy_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, st>>>(
      logits, labels, save_logp, part, n, k);
  if (adv_cuda_launched(__func__)) return 1;
  sum_parts_kernel<<<1, SUM_THREADS, 0, st>>>(part, n, 1.0, (double)n, loss);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_cross_entropy_backward(const real *save_logp,
                                       const real *labels, const real *g,
                                       real *dx, int n, int k, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_cross_entropy_backward(__func__, save_logp, labels, g, dx, n,
                                       k))
    return 1;
  const int64_t total = (int64_t)n * k;
  cross_entropy_backward_kernel<<<adv_grid(total), ADV_BLOCK, 0,
                                  adv_cuda_stream()>>>(save_logp, labels, g, dx,
                                                       n, k, accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- KL(softmax(a) || softmax(b)), mean over rows ---- */

/* One warp per row: writes both log-softmaxes and puts
 * sum_j p_a (log p_a - log p_b) in part[i]. */
static __global__ void kl_forward_kernel(const real *a, const real *b,
                                         real *save_loga, real *save_logb,
                                         double *part, int n, int k) {
  const int i = warp_row(n), lane = threadIdx.x & 31;
  if (i < 0) return;
  const int64_t o = (int64_t)i * k;
  const real *ar = a + o, *br = b + o;
  real *la = save_loga + o, *lb = save_logb + o;
  real ma = -INFINITY, mb = -INFINITY;
  for (int j = lane; j < k; j += 32) {
    ma = fmaxf(ma, ar[j]);
    mb = fmaxf(mb, br[j]);
  }
  ma = warp_max(ma);
  mb = warp_max(mb);
  double sa = 0, sb = 0;
  for (int j = lane; j < k; j += 32) {
    sa += expf(ar[j] - ma);
    sb += expf(br[j] - mb);
  }
  const real lsa = ma + (real)log(warp_sum(sa));
  const real lsb = mb + (real)log(warp_sum(sb));
  double kl = 0;
  for (int j = lane; j < k; j += 32) {
    const real va = ar[j] - lsa, vb = br[j] - lsb;
    la[j] = va;
    lb[j] = vb;
    kl += (double)expf(va) * (va - vb);
  }
  kl = warp_sum(kl);
  if (lane == 0) part[i] = kl;
}

/* With p = softmax(a), q = softmax(b), KL_i = sum_j p_j (log p_j - log q_j):
 *   dKL/db = q - p;   dKL/da = p ((log p - log q) - KL_i).
 * One warp per row (da needs the row's KL_i); g is read on the device. */
static __global__ void kl_backward_kernel(const real *save_loga,
                                          const real *save_logb, const real *g,
                                          real *da, real *db, int n, int k,
                                          int accumulate_a, int accumulate_b) {
  const int i = warp_row(n), lane = threadIdx.x & 31;
  if (i < 0) return;
  const real scale = (real)((double)g[0] / n);
  const int64_t o = (int64_t)i * k;
  const real *la = save_loga + o, *lb = save_logb + o;
  if (db) {
    real *d = db + o;
    for (int j = lane; j < k; j += 32) {
      const real v = scale * (expf(lb[j]) - expf(la[j]));
      d[j] = accumulate_b ? d[j] + v : v;
    }
  }
  if (da) {
    double kl = 0;
    for (int j = lane; j < k; j += 32)
      kl += (double)expf(la[j]) * (la[j] - lb[j]);
    const real rkl = (real)warp_sum(kl);
    real *d = da + o;
    for (int j = lane; j < k; j += 32) {
      const real v = scale * expf(la[j]) * ((la[j] - lb[j]) - rkl);
      d[j] = accumulate_a ? d[j] + v : v;
    }
  }
}

ADV_API int adv_kl_forward(const real *a, const real *b, real *loss,
                           real *save_loga, real *save_logb, int n, int k) {
  ADV_REQUIRE_CUDA();
  if (adv_check_kl_forward(__func__, a, b, loss, save_loga, save_logb, n, k))
    return 1;
  double *part = NULL;
  ADV_CUDA(scratch_get((size_t)n * sizeof(double), &part));
  cudaStream_t st = adv_cuda_stream();
  kl_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, st>>>(
      a, b, save_loga, save_logb, part, n, k);
  if (adv_cuda_launched(__func__)) return 1;
  sum_parts_kernel<<<1, SUM_THREADS, 0, st>>>(part, n, 1.0, (double)n, loss);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_kl_backward(const real *save_loga, const real *save_logb,
                            const real *g, real *da, real *db, int n, int k,
                            int accumulate_a, int accumulate_b) {
  ADV_REQUIRE_CUDA();
  if (adv_check_kl_backward(__func__, save_loga, save_logb, g, n, k)) return 1;
  if (!da && !db) return 0;
  kl_backward_kernel<<<row_blocks(n), ROW_THREADS, 0, adv_cuda_stream()>>>(
      save_loga, save_logb, g, da, db, n, k, accumulate_a, accumulate_b);
  return adv_cuda_launched(__func__);
}

/* ---- squared error: scale * sum (a - b)^2 ---- */

/* First stage: block b sums (a - b)^2 in double over its grid-stride share
 * and writes part[b]. The grid depends only on n, so the order is fixed. */
static __global__ void sq_error_forward_kernel(const real *a, const real *b,
                                               double *part, int n) {
  __shared__ double red[32];
  double acc = 0;
  ADV_FOR(i, n) {
    const double d = (double)a[i] - b[i];
    acc += d * d;
  }
  acc = adv_block_sum(acc, red);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/* da (+)= 2 scale g (a - b), db (+)= -2 scale g (a - b); g read on device. */
static __global__ void sq_error_backward_kernel(const real *a, const real *b,
                                                const real *g, real *da,
                                                real *db, int n, real scale,
                                                int accumulate_a,
                                                int accumulate_b) {
  const real s = 2 * scale * g[0];
  ADV_FOR(i, n) {
    const real v = s * (a[i] - b[i]);
    if (da) da[i] = accumulate_a ? da[i] + v : v;
    if (db) db[i] = accumulate_b ? db[i] - v : -v;
  }
}

ADV_API int adv_sq_error_forward(const real *a, const real *b, real *loss,
                                 int n, real scale) {
  ADV_REQUIRE_CUDA();
  if (adv_check_sq_error_forward(__func__, a, b, loss, n)) return 1;
  int blocks = adv_grid(n);
  if (blocks > SQ_BLOCKS) blocks = SQ_BLOCKS;
  double *part = NULL;
  ADV_CUDA(scratch_get((size_t)blocks * sizeof(double), &part));
  cudaStream_t st = adv_cuda_stream();
  sq_error_forward_kernel<<<blocks, ADV_BLOCK, 0, st>>>(a, b, part, n);
  if (adv_cuda_launched(__func__)) return 1;
  sum_parts_kernel<<<1, SUM_THREADS, 0, st>>>(part, blocks, (double)scale, 1.0,
                                              loss);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_sq_error_backward(const real *a, const real *b, const real *g,
                                  real *da, real *db, int n, real scale,
                                  int accumulate_a, int accumulate_b) {
  ADV_REQUIRE_CUDA();
  if (adv_check_sq_error_backward(__func__, a, b, g, n)) return 1;
  if (!da && !db) return 0;
  sq_error_backward_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      a, b, g, da, db, n, scale, accumulate_a, accumulate_b);
  return adv_cuda_launched(__func__);
}
