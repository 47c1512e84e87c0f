/*
 * Batch normalisation over x (n, c, s) on the GPU, the twin of native/norm.c
 * (PyTorch semantics; s = 1 for 1-d inputs):
 *   training:  xhat = (x - mean) / sqrt(var + eps), var biased (divide by N);
 *              running stats use the unbiased var (divide by N - 1);
 *   inference: xhat from the running statistics;
 *   y = gamma * xhat + beta.
 *
 * Every pass is a per-channel kernel (one block per channel reduces its N =
 * n*s values in double, in a fixed order through adv_block_sum, so results
 * repeat run to run) followed by an elementwise kernel over all n*c*s values
 * that applies per-channel constants. The constants the C code computes in
 * double and rounds once (gamma * invstd, ...) are computed the same way by
 * the channel kernel and handed to the elementwise kernel through a scratch
 * buffer on the device.
 */
#include "common.cuh"

/* Threads of a per-channel reduction block: a multiple of 32, at most 512,
 * fewer when a channel has few values (the 1-d case with a small batch). */
#define BN_THREADS 512
static int bn_threads(int64_t cnt) {
  return cnt >= BN_THREADS ? BN_THREADS : (int)((cnt + 31) / 32 * 32);
}

/* The per-channel constants go through the shared scratch buffer (runtime.cu). */
static cudaError_t scratch_get(size_t bytes, real **out) {
  return adv_cuda_scratch(bytes, (void **)out);
}

/* Calls f(offset) for the values of channel ci that this thread owns: value
 * number j (0 <= j < n*s) of the channel sits at (j / s) * cs + ci * s + j % s.
 * Thread t takes j = t, t + blockDim.x, ...; the (row, column) pair steps
 * without a division per value, and works for s = 1 (strided rows) as well
 * as for large s (contiguous runs). */
template <typename F>
static __device__ inline void for_channel(int n, int s, int64_t cs, int ci,
                                          F f) {
  int i = threadIdx.x / s, j = threadIdx.x % s;
  const int di = blockDim.x / s, dj = blockDim.x % s;
  const int64_t base = (int64_t)ci * s;
  while (i < n) {
    f((int64_t)i * cs + base + j);
    i += di;
    j += dj;
    if (j >= s) {
      j -= s;
      i++;
    }
  }
}

/* ---- training forward ---- */

/* One block per channel: two passes (mean, then squared deviations) in double
 * so there is no cancellation, as in C. Saves mean and invstd, updates the
 * running statistics, and leaves a = gamma * invstd (rounded once from
 * double) in scale[ci] for the elementwise pass. */
static __global__ void bn_forward_stats_kernel(
    const real *x, const real *gamma, real *save_mean, real *save_invstd,
    real *running_mean, real *running_var, real *scale, int n, int c, int s,
    real momentum, real eps, int update_running) {
  __shared__ double red[32];
  const int ci = blockIdx.x;
  const int64_t cs = (int64_t)c * s, cnt = (int64_t)n * s;
  double sum = 0;
  for_channel(n, s, cs, ci, [&](int64_t o) { sum += x[o]; });
  const double mean = adv_block_sum(sum, red) / (double)cnt;
  double sq = 0;
  for_channel(n, s, cs, ci, [&](int64_t o) {
    double d = x[o] - mean;
    sq += d * d;
  });
  sq = adv_block_sum(sq, red);
  if (threadIdx.x != 0) return;
  const double var = sq / (double)cnt;
  const double invstd = 1.0 / sqrt(var + (double)eps);
  save_mean[ci] = (real)mean;
  save_invstd[ci] = (real)invstd;
  if (update_running) {
    const double unbiased = sq / (double)(cnt - 1);
    running_mean[ci] =
        (real)((1.0 - momentum) * running_mean[ci] + momentum * mean);
    running_var[ci] =
        (real)((1.0 - momentum) * running_var[ci] + momentum * unbiased);
  }
  scale[ci] = (real)(gamma[ci] * invstd);
}

/* y = (x - m) a + b per channel. Subtracting the mean before scaling (rather
 * than folding it into the shift) avoids cancellation when |mean| >> std.
 * Used by training (m = save_mean) and inference (m = running_mean). */
static __global__ void bn_apply_kernel(const real *x, const real *mean,
                                       const real *scale, const real *beta,
                                       real *y, int64_t total, int c, int s) {
  ADV_FOR(e, total) {
    const int ci = (int)((e / s) % c);
    y[e] = (x[e] - mean[ci]) * scale[ci] + beta[ci];
  }
}

ADV_API int adv_batchnorm_forward_train(const real *x, const real *gamma,
                                        const real *beta, real *y,
                                        real *save_mean, real *save_invstd,
                                        real *running_mean, real *running_var,
                                        int n, int c, int s, real momentum,
                                        real eps, int update_running) {
  ADV_REQUIRE_CUDA();
  if (adv_check_batchnorm_forward_train(__func__, x, gamma, beta, y, save_mean,
                                        save_invstd, running_mean, running_var,
                                        n, c, s, eps, update_running))
    return 1;
  const int64_t cnt = (int64_t)n * s; /* values per channel */
  real *scale = NULL;
  ADV_CUDA(scratch_get((size_t)c * sizeof(real), &scale));
  cudaStream_t st = adv_cuda_stream();
  bn_forward_stats_kernel<<<c, bn_threads((int64_t)n * s), 0, st>>>(
      x, gamma, save_mean, save_invstd, running_mean, running_var, scale, n, c,
      s, momentum, eps, update_running);
  if (adv_cuda_launched(__func__)) return 1;
  const int64_t total = cnt * c;
  bn_apply_kernel<<<adv_grid(total), ADV_BLOCK, 0, st>>>(x, save_mean, scale,
                                                         beta, y, total, c, s);
  return adv_cuda_launched(__func__);
}

/* ---- training backward ----
 * With xhat = (x - mean) invstd and N = n*s values per channel:
 *   dbeta = sum dy,  dgamma = sum dy xhat,
 *   dx = gamma invstd / N (N dy - dbeta - xhat dgamma),
 * the last two terms being the gradient through the batch mean and variance,
 * applied as dx = k dy + a (x - mean) + b with per-channel k, a, b. */

/* One block per channel: sum dy and sum dy (x - mean) in double; writes
 * dbeta and dgamma (each optional) and, if dx is wanted, k, a, b into
 * coef[ci], coef[c + ci], coef[2c + ci]. */
static __global__ void bn_backward_train_stats_kernel(
    const real *x, const real *gamma, const real *save_mean,
    const real *save_invstd, const real *dy, real *dgamma, real *dbeta,
    real *coef, int n, int c, int s, int accumulate_params) {
  __shared__ double red[32];
  const int ci = blockIdx.x;
  const int64_t cs = (int64_t)c * s;
  const double mean = save_mean[ci], invstd = save_invstd[ci];
  double sdy = 0, sdyx = 0;
  for_channel(n, s, cs, ci, [&](int64_t o) {
    sdy += dy[o];
    sdyx += (double)dy[o] * ((double)x[o] - mean);
  });
  sdy = adv_block_sum(sdy, red);
  sdyx = adv_block_sum(sdyx, red);
  if (threadIdx.x != 0) return;
  const double gb = sdy, gg = sdyx * invstd; /* dbeta, dgamma */
  if (dbeta) dbeta[ci] = (real)(accumulate_params ? dbeta[ci] + gb : gb);
  if (dgamma) dgamma[ci] = (real)(accumulate_params ? dgamma[ci] + gg : gg);
  if (!coef) return;
  const double cnt = (double)n * s;
  const double k = gamma[ci] * invstd;
  coef[ci] = (real)k;
  coef[c + ci] = (real)(-k * gg * invstd / cnt); /* through the variance */
  coef[2 * c + ci] = (real)(-k * gb / cnt);      /* through the mean */
}

/* dx (+)= k dy + a (x - mean) + b, elementwise. */
static __global__ void bn_backward_train_dx_kernel(
    const real *x, const real *dy, const real *mean, const real *coef, real *dx,
    int64_t total, int c, int s, int accumulate) {
  ADV_FOR(e, total) {
    const int ci = (int)((e / s) % c);
    const real k = coef[ci], a = coef[c + ci], b = coef[2 * c + ci];
    const real g = k * dy[e] + a * (x[e] - mean[ci]) + b;
    dx[e] = accumulate ? dx[e] + g : g;
  }
}

ADV_API int adv_batchnorm_backward_train(const real *x, const real *gamma,
                                         const real *save_mean,
                                         const real *save_invstd,
                                         const real *dy, real *dx, real *dgamma,
                                         real *dbeta, int n, int c, int s,
                                         int accumulate_dx,
                                         int accumulate_params) {
  ADV_REQUIRE_CUDA();
  if (adv_check_batchnorm_backward_train(__func__, x, gamma, save_mean,
                                         save_invstd, dy, n, c, s))
    return 1;
  if (!dx && !dgamma && !dbeta) return 0;
  real *coef = NULL;
  if (dx) ADV_CUDA(scratch_get((size_t)3 * c * sizeof(real), &coef));
  cudaStream_t st = adv_cuda_stream();
  bn_backward_train_stats_kernel<<<c, bn_threads((int64_t)n * s), 0, st>>>(
      x, gamma, save_mean, save_invstd, dy, dgamma, dbeta, coef, n, c, s,
      accumulate_params);
  if (adv_cuda_launched(__func__)) return 1;
  if (!dx) return 0;
  const int64_t total = (int64_t)n * c * s;
  bn_backward_train_dx_kernel<<<adv_grid(total), ADV_BLOCK, 0, st>>>(
      x, dy, save_mean, coef, dx, total, c, s, accumulate_dx);
  return adv_cuda_launched(__func__);
}

/* ---- inference: a fixed per-channel affine map ---- */

/* scale[ci] = gamma * invstd from the running variance, rounded once from
 * double as in C; one thread per channel. */
static __global__ void bn_infer_scale_kernel(const real *gamma,
                                             const real *running_var,
                                             real *scale, int c, real eps) {
  ADV_FOR(ci, c) {
    const double invstd = 1.0 / sqrt((double)running_var[ci] + (double)eps);
    scale[ci] = (real)(gamma[ci] * invstd);
  }
}

ADV_API int adv_batchnorm_forward_infer(const real *x, const real *gamma,
                                        const real *beta,
                                        const real *running_mean,
                                        const real *running_var, real *y, int n,
                                        int c, int s, real eps) {
  ADV_REQUIRE_CUDA();
  if (adv_check_batchnorm_forward_infer(__func__, x, gamma, beta, running_mean,
                                        running_var, y, n, c, s, eps))
    return 1;
  real *scale = NULL;
  ADV_CUDA(scratch_get((size_t)c * sizeof(real), &scale));
  cudaStream_t st = adv_cuda_stream();
  bn_infer_scale_kernel<<<adv_grid(c), ADV_BLOCK, 0, st>>>(gamma, running_var,
                                                           scale, c, eps);
  if (adv_cuda_launched(__func__)) return 1;
  const int64_t total = (int64_t)n * c * s;
  bn_apply_kernel<<<adv_grid(total), ADV_BLOCK, 0, st>>>(x, running_mean, scale,
                                                         beta, y, total, c, s);
  return adv_cuda_launched(__func__);
}

/* Running statistics are constants here: dx = gamma invstd dy,
 * dgamma = sum dy xhat, dbeta = sum dy. One block per channel makes the
 * parameter gradients (each optional); the dx pass takes k = gamma * invstd
 * from bn_infer_scale_kernel. */
static __global__ void bn_backward_infer_stats_kernel(
    const real *x, const real *running_mean, const real *running_var,
    const real *dy, real *dgamma, real *dbeta, int n, int c, int s, real eps,
    int accumulate_params) {
  __shared__ double red[32];
  const int ci = blockIdx.x;
  const int64_t cs = (int64_t)c * s;
  const double mean = running_mean[ci];
  double sdy = 0, sdyx = 0;
  for_channel(n, s, cs, ci, [&](int64_t o) {
    sdy += dy[o];
    sdyx += (double)dy[o] * ((double)x[o] - mean);
  });
  sdy = adv_block_sum(sdy, red);
  sdyx = adv_block_sum(sdyx, red);
  if (threadIdx.x != 0) return;
  const double invstd = 1.0 / sqrt((double)running_var[ci] + (double)eps);
  const double gg = sdyx * invstd;
  if (dbeta) dbeta[ci] = (real)(accumulate_params ? dbeta[ci] + sdy : sdy);
  if (dgamma) dgamma[ci] = (real)(accumulate_params ? dgamma[ci] + gg : gg);
}

/* dx (+)= k dy, elementwise. */
static __global__ void bn_backward_infer_dx_kernel(const real *dy,
                                                   const real *coef, real *dx,
                                                   int64_t total, int c, int s,
                                                   int accumulate) {
  ADV_FOR(e, total) {
    const int ci = (int)((e / s) % c);
    const real g = coef[ci] * dy[e];
    dx[e] = accumulate ? dx[e] + g : g;
  }
}

ADV_API int adv_batchnorm_backward_infer(const real *x, const real *gamma,
                                         const real *running_mean,
                                         const real *running_var,
                                         const real *dy, real *dx, real *dgamma,
                                         real *dbeta, int n, int c, int s,
                                         real eps, int accumulate_dx,
                                         int accumulate_params) {
  ADV_REQUIRE_CUDA();
  if (adv_check_batchnorm_backward_infer(__func__, x, gamma, running_mean,
                                         running_var, dy, n, c, s, eps))
    return 1;
  cudaStream_t st = adv_cuda_stream();
  if (dgamma || dbeta) {
    bn_backward_infer_stats_kernel<<<c, bn_threads((int64_t)n * s), 0, st>>>(
        x, running_mean, running_var, dy, dgamma, dbeta, n, c, s, eps,
        accumulate_params);
    if (adv_cuda_launched(__func__)) return 1;
  }
  if (!dx) return 0;
  real *coef = NULL;
  ADV_CUDA(scratch_get((size_t)c * sizeof(real), &coef));
  bn_infer_scale_kernel<<<adv_grid(c), ADV_BLOCK, 0, st>>>(gamma, running_var,
                                                           coef, c, eps);
  if (adv_cuda_launched(__func__)) return 1;
  const int64_t total = (int64_t)n * c * s;
  bn_backward_infer_dx_kernel<<<adv_grid(total), ADV_BLOCK, 0, st>>>(
      dy, coef, dx, total, c, s, accumulate_dx);
  return adv_cuda_launched(__func__);
}
