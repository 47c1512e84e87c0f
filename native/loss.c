/*
 * Softmax and losses over rows of length k.
 *
 * Every row is made numerically safe the usual way: subtract the row max
 * before exponentiating, and take log-softmax as x - max - log(sum exp).
 * Sums are in double. Rows are independent and run in parallel; a mean over
 * rows is summed through fixed blocks of rows (block_rows below), so the
 * loss does not depend on the thread count.
 */
#include "common.h"
#include "realmath.h"

#define MAX_BLOCKS 256

/* Rows per block so that n rows make at most MAX_BLOCKS blocks. */
static int block_rows(int n) { return (n + MAX_BLOCKS - 1) / MAX_BLOCKS; }

/* out[j] = log softmax(x)[j]; returns nothing, works in place too */
static void log_softmax_row(const real *x, real *out, int k) {
  real m = x[0];
  for (int j = 1; j < k; j++) m = R_MAX(m, x[j]);
  double sum = 0;
  for (int j = 0; j < k; j++) sum += R_EXP(x[j] - m);
  real lse = m + (real)log(sum);
  for (int j = 0; j < k; j++) out[j] = x[j] - lse;
}

/* ---- softmax / log-softmax ---- */

int adv_softmax_forward(const real *x, real *y, int n, int k, int log_softmax) {
  if (adv_check_softmax_forward(__func__, x, y, n, k)) return 1;
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const real *xr = x + (int64_t)i * k;
    real *yr = y + (int64_t)i * k;
    if (log_softmax) {
      log_softmax_row(xr, yr, k);
      continue;
    }
    real m = xr[0];
    for (int j = 1; j < k; j++) m = R_MAX(m, xr[j]);
    double sum = 0;
    for (int j = 0; j < k; j++) {
      yr[j] = R_EXP(xr[j] - m);
      sum += yr[j];
    }
    real inv = (real)(1.0 / sum);
    for (int j = 0; j < k; j++) yr[j] *= inv;
  }
  return 0;
}

/* softmax:     dx = y (dy - sum_j dy_j y_j)
 * log-softmax: dx = dy - softmax * sum_j dy_j   (y holds log-probabilities) */
int adv_softmax_backward(const real *y, const real *dy, real *dx, int n, int k,
                         int log_softmax, int accumulate) {
  if (adv_check_softmax_backward(__func__, y, dy, dx, n, k)) return 1;
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const real *yr = y + (int64_t)i * k, *dyr = dy + (int64_t)i * k;
    real *dxr = dx + (int64_t)i * k;
    double dot = 0;
    if (log_softmax) {
      for (int j = 0; j < k; j++) dot += dyr[j];
    } else {
      for (int j = 0; j < k; j++) dot += (double)dyr[j] * yr[j];
    }
    const real d = (real)dot;
    for (int j = 0; j < k; j++) {
      real g = log_softmax ? dyr[j] - R_EXP(yr[j]) * d : yr[j] * (dyr[j] - d);
      dxr[j] = accumulate ? dxr[j] + g : g;
    }
  }
  return 0;
}

/* ---- cross entropy with integer labels stored as reals ---- */

/* 0 if every label is an integer in [0, k), else the failure status naming the
 * first bad row. Runs before any other work. Host only: the CUDA twin's labels
 * are device memory, so it gives bad rows NaN instead (kernels/loss.cu). */
static int check_labels(const char *fn, const real *labels, int n, int k) {
  for (int i = 0; i < n; i++) {
    real l = labels[i];
    if (!(l >= 0 && l < (real)k)) /* also catches NaN */
      return adv_fail(fn, "label %g of row %d is outside [0, %d)", (double)l,
                      i, k);
    if (l != (real)(int)l)
      return adv_fail(fn, "label %g of row %d is not an integer", (double)l,
                      i);
  }
  return 0;
}

int adv_cross_entropy_forward(const real *logits, const real *labels,
                              real *loss, real *save_logp, int n, int k) {
  if (adv_check_cross_entropy_forward(__func__, logits, labels, loss, save_logp,
                                      n, k))
    return 1;
  int err = check_labels(__func__, labels, n, k);
  if (err) return err;
  const int rows = block_rows(n), nb = (n + rows - 1) / rows;
  double part[MAX_BLOCKS];
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int b = 0; b < nb; b++) {
    int i1 = (b + 1) * rows < n ? (b + 1) * rows : n;
    double acc = 0;
    for (int i = b * rows; i < i1; i++) {
      real *lp = save_logp + (int64_t)i * k;
      log_softmax_row(logits + (int64_t)i * k, lp, k);
      acc -= lp[(int)labels[i]];
    }
    part[b] = acc;
  }
  double total = 0;
  for (int b = 0; b < nb; b++) total += part[b];
  loss[0] = (real)(total / n);
  return 0;
}

/* dx (+)= g (softmax - onehot) / n */
int adv_cross_entropy_backward(const real *save_logp, const real *labels,
                               const real *g, real *dx, int n, int k,
                               int accumulate) {
  if (adv_check_cross_entropy_backward(__func__, save_logp, labels, g, dx, n,
                                       k))
    return 1;
  int err = check_labels(__func__, labels, n, k);
  if (err) return err;
  const real scale = (real)((double)g[0] / n);
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const real *lp = save_logp + (int64_t)i * k;
    real *dxr = dx + (int64_t)i * k;
    const int label = (int)labels[i];
    for (int j = 0; j < k; j++) {
      real v = scale * (R_EXP(lp[j]) - (j == label ? 1 : 0));
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
  return 0;
}

/* ---- KL(softmax(a) || softmax(b)), mean over rows ---- */

/* One row: writes both log-softmaxes, returns sum_j p_a (log p_a - log p_b).
 * One pass finds both maxima, one sums both exponentials, one writes the logs
 * and the divergence. */
static double kl_row(const real *a, const real *b, real *la, real *lb, int k) {
  real ma = a[0], mb = b[0];
  for (int j = 1; j < k; j++) {
    ma = R_MAX(ma, a[j]);
    mb = R_MAX(mb, b[j]);
  }
  double sa = 0, sb = 0;
  for (int j = 0; j < k; j++) {
    sa += R_EXP(a[j] - ma);
    sb += R_EXP(b[j] - mb);
  }
  const real lsa = ma + (real)log(sa), lsb = mb + (real)log(sb);
  double kl = 0;
  for (int j = 0; j < k; j++) {
    la[j] = a[j] - lsa;
    lb[j] = b[j] - lsb;
    kl += (double)R_EXP(la[j]) * (la[j] - lb[j]);
  }
  return kl;
}

int adv_kl_forward(const real *a, const real *b, real *loss, real *save_loga,
                   real *save_logb, int n, int k) {
  if (adv_check_kl_forward(__func__, a, b, loss, save_loga, save_logb, n, k))
    return 1;
  const int rows = block_rows(n), nb = (n + rows - 1) / rows;
  double part[MAX_BLOCKS];
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int blk = 0; blk < nb; blk++) {
    int i1 = (blk + 1) * rows < n ? (blk + 1) * rows : n;
    double acc = 0;
    for (int i = blk * rows; i < i1; i++) {
      const int64_t o = (int64_t)i * k;
      acc += kl_row(a + o, b + o, save_loga + o, save_logb + o, k);
    }
    part[blk] = acc;
  }
  double total = 0;
  for (int blk = 0; blk < nb; blk++) total += part[blk];
  loss[0] = (real)(total / n);
  return 0;
}

/* With p = softmax(a), q = softmax(b), KL_i = sum_j p_j (log p_j - log q_j):
 *   dKL/db = q - p;   dKL/da = p ((log p - log q) - KL_i). */
int adv_kl_backward(const real *save_loga, const real *save_logb, const real *g,
                    real *da, real *db, int n, int k, int accumulate_a,
                    int accumulate_b) {
  if (adv_check_kl_backward(__func__, save_loga, save_logb, g, n, k)) return 1;
  if (!da && !db) return 0;
  const real scale = (real)((double)g[0] / n);
#pragma omp parallel for if ((int64_t)n * k > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const int64_t o = (int64_t)i * k;
    const real *la = save_loga + o, *lb = save_logb + o;
    if (db) {
      real *d = db + o;
      for (int j = 0; j < k; j++) {
        real v = scale * (R_EXP(lb[j]) - R_EXP(la[j]));
        d[j] = accumulate_b ? d[j] + v : v;
      }
    }
    if (da) {
      double kl = 0;
      for (int j = 0; j < k; j++) kl += (double)R_EXP(la[j]) * (la[j] - lb[j]);
      const real rkl = (real)kl;
      real *d = da + o;
      for (int j = 0; j < k; j++) {
        real v = scale * R_EXP(la[j]) * ((la[j] - lb[j]) - rkl);
        d[j] = accumulate_a ? d[j] + v : v;
      }
    }
  }
  return 0;
}

/* ---- squared error: scale * sum (a - b)^2 ---- */

int adv_sq_error_forward(const real *a, const real *b, real *loss, int n,
                         real scale) {
  if (adv_check_sq_error_forward(__func__, a, b, loss, n)) return 1;
  const int len = block_rows(n), nb = (n + len - 1) / len;
  double part[MAX_BLOCKS];
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int blk = 0; blk < nb; blk++) {
    int i1 = (blk + 1) * len < n ? (blk + 1) * len : n;
    double acc = 0;
    for (int i = blk * len; i < i1; i++) {
      double d = (double)a[i] - b[i];
      acc += d * d;
    }
    part[blk] = acc;
  }
  double total = 0;
  for (int blk = 0; blk < nb; blk++) total += part[blk];
  loss[0] = (real)(scale * total);
  return 0;
}

int adv_sq_error_backward(const real *a, const real *b, const real *g,
                          real *da, real *db, int n, real scale,
                          int accumulate_a, int accumulate_b) {
  if (adv_check_sq_error_backward(__func__, a, b, g, n)) return 1;
  const real s = 2 * scale * g[0];
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    real v = s * (a[i] - b[i]);
    if (da) da[i] = accumulate_a ? da[i] + v : v;
    if (db) db[i] = accumulate_b ? db[i] - v : -v;
  }
  return 0;
}
