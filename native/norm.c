/*
 * Batch normalisation over x (n, c, s): statistics per channel over the n*s
 * values of that channel (s = 1 for 1-d inputs), PyTorch semantics:
 *   training:  xhat = (x - mean) / sqrt(var + eps), var biased (divide by N);
 *              running stats use the unbiased var (divide by N - 1);
 *   inference: xhat from the running statistics;
 *   y = gamma * xhat + beta.
 * Each channel is reduced by one thread in a fixed order, in double, so the
 * result does not depend on the thread count.
 */
#include "common.h"
#include "realmath.h"

/* Channel sums: each row of s values is reduced with an OpenMP simd
 * reduction (several partial sums in vector lanes, so the adds do not wait on
 * each other), then rows are added in order. The lane split is fixed at
 * compile time, so results stay deterministic. x points at the channel's
 * first row; rows are cs apart. */

/* sum of (x - shift) and of its square; shift = 0 gives the plain sums */
static void channel_moments(const real *x, int n, int64_t cs, int s,
                            double shift, double *sum, double *sumsq) {
  double t1 = 0, t2 = 0;
  for (int i = 0; i < n; i++) {
    const real *r = x + i * cs;
    double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (int j = 0; j < s; j++) {
      double d = r[j] - shift;
      s1 += d;
      s2 += d * d;
    }
    t1 += s1;
    t2 += s2;
  }
  *sum = t1;
  *sumsq = t2;
}

/* sum of dy and of dy * (x - mean) over one channel */
static void channel_grad_sums(const real *x, const real *dy, int n, int64_t cs,
                              int s, double mean, double *sdy, double *sdyx) {
  double t1 = 0, t2 = 0;
  for (int i = 0; i < n; i++) {
    const real *xr = x + i * cs, *dr = dy + i * cs;
    double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (int j = 0; j < s; j++) {
      s1 += dr[j];
      s2 += (double)dr[j] * (xr[j] - mean);
    }
    t1 += s1;
    t2 += s2;
  }
  *sdy = t1;
  *sdyx = t2;
}

/* ---- the 1-d case (s = 1): channels are contiguous within a row ----
 * Reducing one channel at a time would stride through memory by c; instead
 * each thread takes a block of channels and walks the rows, so every inner
 * loop is contiguous. Each channel is still summed in row order, in double,
 * so results match the general path and do not depend on the thread count. */
#define BN_BLOCK 64

static void bn1d_forward_train(const real *x, const real *gamma,
                               const real *beta, real *y, real *save_mean,
                               real *save_invstd, real *running_mean,
                               real *running_var, int n, int c, real momentum,
                               real eps, int update_running) {
  const int blocks = (c + BN_BLOCK - 1) / BN_BLOCK;
#pragma omp parallel for if ((int64_t)n * c > ADV_PARALLEL_MIN) schedule(static)
  for (int blk = 0; blk < blocks; blk++) {
    const int c0 = blk * BN_BLOCK;
    const int w = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double sum[BN_BLOCK] = {0}, sq[BN_BLOCK] = {0}, mean[BN_BLOCK];
    for (int i = 0; i < n; i++) {
      const real *r = x + (int64_t)i * c + c0;
      for (int k = 0; k < w; k++) sum[k] += r[k];
    }
    for (int k = 0; k < w; k++) mean[k] = sum[k] / n;
    for (int i = 0; i < n; i++) {
      const real *r = x + (int64_t)i * c + c0;
      for (int k = 0; k < w; k++) {
        double d = r[k] - mean[k];
        sq[k] += d * d;
      }
    }
    real m[BN_BLOCK], a[BN_BLOCK], b[BN_BLOCK];
    for (int k = 0; k < w; k++) {
      const int ci = c0 + k;
      double invstd = 1.0 / sqrt(sq[k] / n + (double)eps);
      save_mean[ci] = (real)mean[k];
      save_invstd[ci] = (real)invstd;
      if (update_running) {
        running_mean[ci] =
            (real)((1.0 - momentum) * running_mean[ci] + momentum * mean[k]);
        running_var[ci] = (real)((1.0 - momentum) * running_var[ci] +
                                 momentum * (sq[k] / (n - 1)));
      }
      m[k] = (real)mean[k];
      a[k] = (real)(gamma[ci] * invstd);
      b[k] = beta[ci];
    }
    for (int i = 0; i < n; i++) {
      const real *r = x + (int64_t)i * c + c0;
      real *yr = y + (int64_t)i * c + c0;
      for (int k = 0; k < w; k++) yr[k] = (r[k] - m[k]) * a[k] + b[k];
    }
  }
}

static void bn1d_backward_train(const real *x, const real *gamma,
                                const real *save_mean, const real *save_invstd,
                                const real *dy, real *dx, real *dgamma,
                                real *dbeta, int n, int c, int accumulate_dx,
                                int accumulate_params) {
  const int blocks = (c + BN_BLOCK - 1) / BN_BLOCK;
#pragma omp parallel for if ((int64_t)n * c > ADV_PARALLEL_MIN) schedule(static)
  for (int blk = 0; blk < blocks; blk++) {
    const int c0 = blk * BN_BLOCK;
    const int w = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double sdy[BN_BLOCK] = {0}, sdyx[BN_BLOCK] = {0};
    real m[BN_BLOCK], rk[BN_BLOCK], ra[BN_BLOCK], rb[BN_BLOCK];
    for (int k = 0; k < w; k++) m[k] = save_mean[c0 + k];
    for (int i = 0; i < n; i++) {
      const real *xr = x + (int64_t)i * c + c0, *dr = dy + (int64_t)i * c + c0;
      for (int k = 0; k < w; k++) {
        sdy[k] += dr[k];
        sdyx[k] += (double)dr[k] * ((double)xr[k] - (double)save_mean[c0 + k]);
      }
    }
    for (int k = 0; k < w; k++) {
      const int ci = c0 + k;
      const double invstd = save_invstd[ci];
      const double gb = sdy[k], gg = sdyx[k] * invstd;
      if (dbeta) dbeta[ci] = (real)(accumulate_params ? dbeta[ci] + gb : gb);
      if (dgamma) dgamma[ci] = (real)(accumulate_params ? dgamma[ci] + gg : gg);
      const double kk = gamma[ci] * invstd;
      rk[k] = (real)kk;
      ra[k] = (real)(-kk * gg * invstd / n);
      rb[k] = (real)(-kk * gb / n);
    }
    if (!dx) continue;
    for (int i = 0; i < n; i++) {
      const real *xr = x + (int64_t)i * c + c0, *dr = dy + (int64_t)i * c + c0;
      real *dxr = dx + (int64_t)i * c + c0;
      if (accumulate_dx) {
        for (int k = 0; k < w; k++)
          dxr[k] += rk[k] * dr[k] + ra[k] * (xr[k] - m[k]) + rb[k];
      } else {
        for (int k = 0; k < w; k++)
          dxr[k] = rk[k] * dr[k] + ra[k] * (xr[k] - m[k]) + rb[k];
      }
    }
  }
}

int adv_batchnorm_forward_train(const real *x, const real *gamma,
                                const real *beta, real *y, real *save_mean,
                                real *save_invstd, real *running_mean,
                                real *running_var, int n, int c, int s,
                                real momentum, real eps, int update_running) {
  if (adv_check_batchnorm_forward_train(__func__, x, gamma, beta, y, save_mean,
                                        save_invstd, running_mean, running_var,
                                        n, c, s, eps, update_running))
    return 1;
  const int64_t cnt = (int64_t)n * s; /* values per channel */
  if (s == 1) {
    bn1d_forward_train(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                       running_var, n, c, momentum, eps, update_running);
    return 0;
  }
  const int64_t cs = (int64_t)c * s;
#pragma omp parallel for if ((int64_t)n * cs > ADV_PARALLEL_MIN) \
    schedule(static)
  for (int ci = 0; ci < c; ci++) {
    /* two passes (mean, then squared deviations): no cancellation */
    const real *xc = x + (int64_t)ci * s;
    double sum, sq, dev;
    channel_moments(xc, n, cs, s, 0, &sum, &sq);
    double mean = sum / (double)cnt;
    channel_moments(xc, n, cs, s, mean, &dev, &sq);
    double var = sq / (double)cnt;
    double invstd = 1.0 / sqrt(var + (double)eps);
    save_mean[ci] = (real)mean;
    save_invstd[ci] = (real)invstd;
    if (update_running) {
      double unbiased = sq / (double)(cnt - 1);
      running_mean[ci] =
          (real)((1.0 - momentum) * running_mean[ci] + momentum * mean);
      running_var[ci] =
          (real)((1.0 - momentum) * running_var[ci] + momentum * unbiased);
    }
    /* subtract the mean before scaling: folding it into the shift would
     * cancel badly in float when |mean| >> std */
    const real m = (real)mean, a = (real)(gamma[ci] * invstd), b = beta[ci];
    for (int i = 0; i < n; i++) {
      const real *xr = x + i * cs + (int64_t)ci * s;
      real *yr = y + i * cs + (int64_t)ci * s;
      for (int j = 0; j < s; j++) yr[j] = (xr[j] - m) * a + b;
    }
  }
  return 0;
}

/* With xhat = (x - mean) invstd and N = n*s values per channel:
 *   dbeta = sum dy,  dgamma = sum dy xhat,
 *   dx = gamma invstd / N (N dy - dbeta - xhat dgamma),
 * the last two terms being the gradient through the batch mean and variance. */
int adv_batchnorm_backward_train(const real *x, const real *gamma,
                                 const real *save_mean, const real *save_invstd,
                                 const real *dy, real *dx, real *dgamma,
                                 real *dbeta, int n, int c, int s,
                                 int accumulate_dx, int accumulate_params) {
  if (adv_check_batchnorm_backward_train(__func__, x, gamma, save_mean,
                                         save_invstd, dy, n, c, s))
    return 1;
  if (s == 1) {
    bn1d_backward_train(x, gamma, save_mean, save_invstd, dy, dx, dgamma, dbeta,
                        n, c, accumulate_dx, accumulate_params);
    return 0;
  }
  const int64_t cs = (int64_t)c * s;
  const double cnt = (double)n * s;
#pragma omp parallel for if ((int64_t)n * cs > ADV_PARALLEL_MIN) \
    schedule(static)
  for (int ci = 0; ci < c; ci++) {
    const double mean = save_mean[ci], invstd = save_invstd[ci];
    double sdy, sdyx; /* sum dy, sum dy * (x - mean) */
    channel_grad_sums(x + (int64_t)ci * s, dy + (int64_t)ci * s, n, cs, s, mean,
                      &sdy, &sdyx);
    const double gb = sdy, gg = sdyx * invstd; /* dbeta, dgamma */
    if (dbeta) dbeta[ci] = (real)(accumulate_params ? dbeta[ci] + gb : gb);
    if (dgamma) dgamma[ci] = (real)(accumulate_params ? dgamma[ci] + gg : gg);
    if (!dx) continue;
    /* dx = k dy + a (x - mean) + b, with per-channel constants */
    const double k = gamma[ci] * invstd;
    const real rk = (real)k, rm = (real)mean;
    const real ra = (real)(-k * gg * invstd / cnt); /* through the variance */
    const real rb = (real)(-k * gb / cnt);          /* through the mean */
    for (int i = 0; i < n; i++) {
      const real *xr = x + i * cs + (int64_t)ci * s;
      const real *dyr = dy + i * cs + (int64_t)ci * s;
      real *dxr = dx + i * cs + (int64_t)ci * s;
      if (accumulate_dx) {
        for (int j = 0; j < s; j++)
          dxr[j] += rk * dyr[j] + ra * (xr[j] - rm) + rb;
      } else {
        for (int j = 0; j < s; j++)
          dxr[j] = rk * dyr[j] + ra * (xr[j] - rm) + rb;
      }
    }
  }
  return 0;
}

/* Inference: a fixed per-channel affine map. */
int adv_batchnorm_forward_infer(const real *x, const real *gamma,
                                const real *beta, const real *running_mean,
                                const real *running_var, real *y, int n, int c,
                                int s, real eps) {
  if (adv_check_batchnorm_forward_infer(__func__, x, gamma, beta, running_mean,
                                        running_var, y, n, c, s, eps))
    return 1;
  const int64_t cs = (int64_t)c * s;
#pragma omp parallel for collapse(2) if ((int64_t)n * cs > ADV_PARALLEL_MIN) \
    schedule(static)
  for (int i = 0; i < n; i++) {
    for (int ci = 0; ci < c; ci++) {
      double invstd = 1.0 / sqrt((double)running_var[ci] + (double)eps);
      const real m = running_mean[ci], a = (real)(gamma[ci] * invstd);
      const real b = beta[ci];
      const real *xr = x + i * cs + (int64_t)ci * s;
      real *yr = y + i * cs + (int64_t)ci * s;
      for (int j = 0; j < s; j++) yr[j] = (xr[j] - m) * a + b;
    }
  }
  return 0;
}

/* Running statistics are constants here: dx = gamma invstd dy,
 * dgamma = sum dy xhat, dbeta = sum dy. */
int adv_batchnorm_backward_infer(const real *x, const real *gamma,
                                 const real *running_mean,
                                 const real *running_var, const real *dy,
                                 real *dx, real *dgamma, real *dbeta, int n,
                                 int c, int s, real eps, int accumulate_dx,
                                 int accumulate_params) {
  if (adv_check_batchnorm_backward_infer(__func__, x, gamma, running_mean,
                                         running_var, dy, n, c, s, eps))
    return 1;
  const int64_t cs = (int64_t)c * s;
#pragma omp parallel for if ((int64_t)n * cs > ADV_PARALLEL_MIN) \
    schedule(static)
  for (int ci = 0; ci < c; ci++) {
    const double mean = running_mean[ci];
    const double invstd = 1.0 / sqrt((double)running_var[ci] + (double)eps);
    if (dgamma || dbeta) {
      double sdy, sdyx;
      channel_grad_sums(x + (int64_t)ci * s, dy + (int64_t)ci * s, n, cs, s,
                        mean, &sdy, &sdyx);
      const double gg = sdyx * invstd;
      if (dbeta) dbeta[ci] = (real)(accumulate_params ? dbeta[ci] + sdy : sdy);
      if (dgamma) dgamma[ci] = (real)(accumulate_params ? dgamma[ci] + gg : gg);
    }
    if (!dx) continue;
    const real k = (real)(gamma[ci] * invstd);
    for (int i = 0; i < n; i++) {
      const real *dyr = dy + i * cs + (int64_t)ci * s;
      real *dxr = dx + i * cs + (int64_t)ci * s;
      if (accumulate_dx) {
        for (int j = 0; j < s; j++) dxr[j] += k * dyr[j];
      } else {
        for (int j = 0; j < s; j++) dxr[j] = k * dyr[j];
      }
    }
  }
  return 0;
}
