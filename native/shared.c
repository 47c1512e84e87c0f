/* Compiled into both the CPU and the CUDA library (build.ts): the error slot
 * behind adv_last_error() and the argument checks that must read the same in
 * both. `real` is the library's (float, or double in the CPU f64 library), as
 * in the kernels that call the checks. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

/* One process-wide slot rather than a thread-local one: Deno may call a
 * kernel and then adv_last_error() from different threads (nonblocking
 * calls), and kernels only record errors before any parallel work starts. */
static char adv_error_buf[512];

int adv_fail(const char *fn, const char *fmt, ...) {
  if (strncmp(fn, "adv_", 4) == 0) fn += 4; /* messages read "gemm: ..." */
  int len = snprintf(adv_error_buf, sizeof adv_error_buf, "%s: ", fn);
  if (len < 0) len = 0;
  if ((size_t)len >= sizeof adv_error_buf) len = (int)sizeof adv_error_buf - 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(adv_error_buf + len, sizeof adv_error_buf - (size_t)len, fmt, ap);
  va_end(ap);
  return 1;
}

const char *adv_last_error(void) { return adv_error_buf; }

int adv_check_conv_geometry(const char *fn, int n, int c, int h, int wd, int k,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow) {
  if (n <= 0 || c <= 0 || h <= 0 || wd <= 0 || k <= 0)
    return adv_fail(fn, "sizes must be > 0 (n=%d c=%d h=%d w=%d k=%d)", n, c,
                    h, wd, k);
  if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0)
    return adv_fail(fn, "kernel %dx%d and stride %dx%d must be > 0", kh, kw,
                    sh, sw);
  if (ph < 0 || pw < 0)
    return adv_fail(fn, "padding %dx%d must be >= 0", ph, pw);
  if ((int64_t)h + 2 * (int64_t)ph < kh || (int64_t)wd + 2 * (int64_t)pw < kw)
    return adv_fail(fn, "kernel %dx%d larger than padded input %dx%d", kh, kw,
                    h + 2 * ph, wd + 2 * pw);
  /* floor division: a transposed conv passes an input up to sh-1 larger */
  int64_t eh = ((int64_t)h + 2 * (int64_t)ph - kh) / sh + 1;
  int64_t ew = ((int64_t)wd + 2 * (int64_t)pw - kw) / sw + 1;
  if (oh != eh || ow != ew)
    return adv_fail(fn, "output %dx%d inconsistent, expected %lldx%lld", oh,
                    ow, (long long)eh, (long long)ew);
  if ((int64_t)c * kh * kw > INT_MAX || (int64_t)oh * ow > INT_MAX ||
      (int64_t)h * wd > INT_MAX)
    return adv_fail(fn, "sizes too large");
  return 0;
}

int adv_check_pool_geometry(const char *fn, int n, int c, int h, int wd,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow) {
  if (n <= 0 || c <= 0 || h <= 0 || wd <= 0)
    return adv_fail(fn, "sizes must be > 0 (n=%d c=%d h=%d w=%d)", n, c, h,
                    wd);
  if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0)
    return adv_fail(fn, "kernel %dx%d and stride %dx%d must be > 0", kh, kw,
                    sh, sw);
  /* ph < kh keeps at least one real element in every window */
  if (ph < 0 || pw < 0 || ph >= kh || pw >= kw)
    return adv_fail(fn, "padding %dx%d must be >= 0 and < kernel %dx%d", ph,
                    pw, kh, kw);
  if ((int64_t)h + 2 * (int64_t)ph < kh || (int64_t)wd + 2 * (int64_t)pw < kw)
    return adv_fail(fn, "kernel %dx%d larger than padded input %dx%d", kh, kw,
                    h + 2 * ph, wd + 2 * pw);
  int64_t eh = ((int64_t)h + 2 * (int64_t)ph - kh) / sh + 1;
  int64_t ew = ((int64_t)wd + 2 * (int64_t)pw - kw) / sw + 1;
  if (oh != eh || ow != ew)
    return adv_fail(fn, "output %dx%d inconsistent, expected %lldx%lld", oh,
                    ow, (long long)eh, (long long)ew);
  return 0;
}

/* ---- the argument checks of each kernel (common.h) ---- */

int adv_check_alloc(const char *fn, int64_t bytes) {
  ADV_CHECK_IN(fn, bytes >= 0, "argument 'bytes' must be >= 0, got %lld",
               (long long)bytes);
  return 0;
}

int adv_check_set_num_threads(const char *fn, int n) {
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_fill(const char *fn, const real *x, int n) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_copy(const char *fn, const real *dst, const real *src, int n) {
  ADV_CHECK_PTR_IN(fn, dst);
  ADV_CHECK_PTR_IN(fn, src);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_gemm(const char *fn, int trans_a, int trans_b, int m, int n,
                   int k, const real *a, int lda, const real *b, int ldb,
                   const real *c, int ldc) {
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_PTR_IN(fn, c);
  ADV_CHECK_IN(fn, trans_a == 0 || trans_a == 1,
               "argument 'trans_a' must be 0 or 1, got %d", trans_a);
  ADV_CHECK_IN(fn, trans_b == 0 || trans_b == 1,
               "argument 'trans_b' must be 0 or 1, got %d", trans_b);
  ADV_CHECK_POS_IN(fn, m);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  ADV_CHECK_IN(fn, lda >= (trans_a ? m : k),
               "argument 'lda' must be >= %d, got %d", trans_a ? m : k, lda);
  ADV_CHECK_IN(fn, ldb >= (trans_b ? k : n),
               "argument 'ldb' must be >= %d, got %d", trans_b ? k : n, ldb);
  ADV_CHECK_IN(fn, ldc >= n, "argument 'ldc' must be >= %d, got %d", n, ldc);
  return 0;
}

/* ---- elementwise ---- */

int adv_check_bias_add(const char *fn, const real *y, const real *x,
                       const real *b, int n, int c, int s) {
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  return 0;
}

int adv_check_bias_grad(const char *fn, const real *db, const real *dy, int n,
                        int c, int s) {
  ADV_CHECK_PTR_IN(fn, db);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  return 0;
}

int adv_check_axpby(const char *fn, const real *y, const real *x, int n) {
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_affine(const char *fn, const real *y, const real *x, int n) {
  return adv_check_axpby(fn, y, x, n); /* the same arguments to check */
}

int adv_check_mul(const char *fn, const real *out, const real *a,
                  const real *b, int n) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_broadcast_binary(const char *fn, int op, const real *out,
                               const int *out_shape, int ndim, const real *a,
                               const int *a_strides, const real *b,
                               const int *b_strides) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_IN(fn, op >= 0 && op <= 3, "argument 'op' must be 0..3, got %d",
               op);
  ADV_CHECK_IN(fn, ndim >= 0 && ndim <= ADV_MAX_DIMS,
               "argument 'ndim' must be 0..%d, got %d", ADV_MAX_DIMS, ndim);
  if (ndim > 0) {
    ADV_CHECK_PTR_IN(fn, out_shape);
    ADV_CHECK_PTR_IN(fn, a_strides);
    ADV_CHECK_PTR_IN(fn, b_strides);
  }
  for (int d = 0; d < ndim; d++) {
    ADV_CHECK_IN(fn, out_shape[d] > 0, "out_shape[%d] must be > 0, got %d", d,
                 out_shape[d]);
    ADV_CHECK_IN(fn, a_strides[d] >= 0, "a_strides[%d] must be >= 0, got %d",
                 d, a_strides[d]);
    ADV_CHECK_IN(fn, b_strides[d] >= 0, "b_strides[%d] must be >= 0, got %d",
                 d, b_strides[d]);
  }
  return 0;
}

int adv_check_sum_to(const char *fn, const real *out, const int *out_strides,
                     const real *in, const int *in_shape, int ndim) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_PTR_IN(fn, in);
  ADV_CHECK_IN(fn, ndim >= 0 && ndim <= ADV_MAX_DIMS,
               "argument 'ndim' must be 0..%d, got %d", ADV_MAX_DIMS, ndim);
  if (ndim > 0) {
    ADV_CHECK_PTR_IN(fn, out_strides);
    ADV_CHECK_PTR_IN(fn, in_shape);
  }
  /* innermost first, the order the kernels walk the dimensions in */
  for (int d = ndim - 1; d >= 0; d--) {
    ADV_CHECK_IN(fn, in_shape[d] > 0, "in_shape[%d] must be > 0, got %d", d,
                 in_shape[d]);
    ADV_CHECK_IN(fn, out_strides[d] >= 0,
                 "out_strides[%d] must be >= 0, got %d", d, out_strides[d]);
  }
  return 0;
}

int adv_check_sum(const char *fn, const real *out, const real *x, int n) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_fill_from_scalar(const char *fn, const real *dx, const real *g,
                               int n) {
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_PTR_IN(fn, g);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

int adv_check_copy_rows(const char *fn, const real *dst, int dst_stride,
                        const real *src, int src_stride, int rows, int len) {
  ADV_CHECK_PTR_IN(fn, dst);
  ADV_CHECK_PTR_IN(fn, src);
  ADV_CHECK_POS_IN(fn, rows);
  ADV_CHECK_POS_IN(fn, len);
  ADV_CHECK_IN(fn, dst_stride >= len,
               "argument 'dst_stride' must be >= len (%d), got %d", len,
               dst_stride);
  ADV_CHECK_IN(fn, src_stride >= len,
               "argument 'src_stride' must be >= len (%d), got %d", len,
               src_stride);
  return 0;
}

int adv_check_act_forward(const char *fn, int kind, const real *x,
                          const real *y, int n) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_IN(fn, kind >= 0 && kind <= 3,
               "argument 'kind' must be 0..3, got %d", kind);
  return 0;
}

/* relu and leaky relu read x, sigmoid and tanh y: only that one is needed */
int adv_check_act_backward(const char *fn, int kind, const real *x,
                           const real *y, const real *dy, const real *dx,
                           int n) {
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_IN(fn, kind >= 0 && kind <= 3,
               "argument 'kind' must be 0..3, got %d", kind);
  if (kind <= 1)
    ADV_CHECK_PTR_IN(fn, x);
  else
    ADV_CHECK_PTR_IN(fn, y);
  return 0;
}

int adv_check_l2norm_forward(const char *fn, const real *x, const real *y,
                             int n, int d, real eps) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, d);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  return 0;
}

int adv_check_l2norm_backward(const char *fn, const real *x, const real *dy,
                              const real *dx, int n, int d, real eps) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, d);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  return 0;
}

int adv_check_count_errors(const char *fn, const real *out,
                           const real *logits, const real *labels, int n,
                           int k) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_PTR_IN(fn, logits);
  ADV_CHECK_PTR_IN(fn, labels);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

/* ---- random numbers ---- */

int adv_check_rand_uniform(const char *fn, const real *out, int n, real lo,
                           real hi) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_IN(fn, isfinite(lo) && isfinite(hi) && lo <= hi,
               "need finite lo <= hi, got lo = %g, hi = %g", (double)lo,
               (double)hi);
  return 0;
}

int adv_check_rand_normal(const char *fn, const real *out, int n, real mean,
                          real stddev) {
  ADV_CHECK_PTR_IN(fn, out);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_IN(fn, isfinite(mean) && isfinite(stddev) && stddev >= 0,
               "need finite mean and std >= 0, got mean = %g, std = %g",
               (double)mean, (double)stddev);
  return 0;
}

int adv_check_dropout_forward(const char *fn, const real *x, const real *y,
                              const real *mask, int n, real p) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_PTR_IN(fn, mask);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_IN(fn, p >= 0 && p < 1, "argument 'p' must be in [0, 1), got %g",
               (double)p);
  return 0;
}

/* ---- convolution and pooling: pointers, then the geometry ---- */

int adv_check_conv2d_forward(const char *fn, const real *x, const real *w,
                             const real *y, int n, int c, int h, int wd, int k,
                             int kh, int kw, int sh, int sw, int ph, int pw,
                             int oh, int ow) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, w);
  ADV_CHECK_PTR_IN(fn, y);
  return adv_check_conv_geometry(fn, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                                 oh, ow);
}

int adv_check_conv2d_backward_data(const char *fn, const real *dy,
                                   const real *w, const real *dx, int n, int c,
                                   int h, int wd, int k, int kh, int kw,
                                   int sh, int sw, int ph, int pw, int oh,
                                   int ow) {
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, w);
  ADV_CHECK_PTR_IN(fn, dx);
  return adv_check_conv_geometry(fn, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                                 oh, ow);
}

int adv_check_conv2d_backward_filter(const char *fn, const real *x,
                                     const real *dy, const real *dw, int n,
                                     int c, int h, int wd, int k, int kh,
                                     int kw, int sh, int sw, int ph, int pw,
                                     int oh, int ow) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dw);
  return adv_check_conv_geometry(fn, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                                 oh, ow);
}

int adv_check_maxpool_forward(const char *fn, const real *x, const real *y,
                              int n, int c, int h, int wd, int kh, int kw,
                              int sh, int sw, int ph, int pw, int oh, int ow) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  return adv_check_pool_geometry(fn, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh,
                                 ow);
}

int adv_check_maxpool_backward(const char *fn, const real *x, const real *dy,
                               const real *dx, int n, int c, int h, int wd,
                               int kh, int kw, int sh, int sw, int ph, int pw,
                               int oh, int ow) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dx);
  return adv_check_pool_geometry(fn, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh,
                                 ow);
}

int adv_check_global_avgpool_forward(const char *fn, const real *x,
                                     const real *y, int nc, int s) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_POS_IN(fn, nc);
  ADV_CHECK_POS_IN(fn, s);
  return 0;
}

int adv_check_global_avgpool_backward(const char *fn, const real *dy,
                                      const real *dx, int nc, int s) {
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_POS_IN(fn, nc);
  ADV_CHECK_POS_IN(fn, s);
  return 0;
}

/* ---- batch norm ---- */

int adv_check_batchnorm_forward_train(
    const char *fn, const real *x, const real *gamma, const real *beta,
    const real *y, const real *save_mean, const real *save_invstd,
    const real *running_mean, const real *running_var, int n, int c, int s,
    real eps, int update_running) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, gamma);
  ADV_CHECK_PTR_IN(fn, beta);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_PTR_IN(fn, save_mean);
  ADV_CHECK_PTR_IN(fn, save_invstd);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  if (update_running) {
    const int64_t cnt = (int64_t)n * s; /* values per channel */
    ADV_CHECK_PTR_IN(fn, running_mean);
    ADV_CHECK_PTR_IN(fn, running_var);
    ADV_CHECK_IN(fn, cnt >= 2,
                 "need at least 2 values per channel to update the running "
                 "variance, got n*s = %lld",
                 (long long)cnt);
  }
  return 0;
}

int adv_check_batchnorm_forward_infer(const char *fn, const real *x,
                                      const real *gamma, const real *beta,
                                      const real *running_mean,
                                      const real *running_var, const real *y,
                                      int n, int c, int s, real eps) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, gamma);
  ADV_CHECK_PTR_IN(fn, beta);
  ADV_CHECK_PTR_IN(fn, running_mean);
  ADV_CHECK_PTR_IN(fn, running_var);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  return 0;
}

/* dx, dgamma and dbeta may each be NULL (skipped): not checked */
int adv_check_batchnorm_backward_train(const char *fn, const real *x,
                                       const real *gamma,
                                       const real *save_mean,
                                       const real *save_invstd, const real *dy,
                                       int n, int c, int s) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, gamma);
  ADV_CHECK_PTR_IN(fn, save_mean);
  ADV_CHECK_PTR_IN(fn, save_invstd);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  return 0;
}

int adv_check_batchnorm_backward_infer(const char *fn, const real *x,
                                       const real *gamma,
                                       const real *running_mean,
                                       const real *running_var, const real *dy,
                                       int n, int c, int s, real eps) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, gamma);
  ADV_CHECK_PTR_IN(fn, running_mean);
  ADV_CHECK_PTR_IN(fn, running_var);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, c);
  ADV_CHECK_POS_IN(fn, s);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  return 0;
}

/* ---- softmax and losses ---- */

int adv_check_softmax_forward(const char *fn, const real *x, const real *y,
                              int n, int k) {
  ADV_CHECK_PTR_IN(fn, x);
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

int adv_check_softmax_backward(const char *fn, const real *y, const real *dy,
                               const real *dx, int n, int k) {
  ADV_CHECK_PTR_IN(fn, y);
  ADV_CHECK_PTR_IN(fn, dy);
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

int adv_check_cross_entropy_forward(const char *fn, const real *logits,
                                    const real *labels, const real *loss,
                                    const real *save_logp, int n, int k) {
  ADV_CHECK_PTR_IN(fn, logits);
  ADV_CHECK_PTR_IN(fn, labels);
  ADV_CHECK_PTR_IN(fn, loss);
  ADV_CHECK_PTR_IN(fn, save_logp);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

int adv_check_cross_entropy_backward(const char *fn, const real *save_logp,
                                     const real *labels, const real *g,
                                     const real *dx, int n, int k) {
  ADV_CHECK_PTR_IN(fn, save_logp);
  ADV_CHECK_PTR_IN(fn, labels);
  ADV_CHECK_PTR_IN(fn, g);
  ADV_CHECK_PTR_IN(fn, dx);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

int adv_check_kl_forward(const char *fn, const real *a, const real *b,
                         const real *loss, const real *save_loga,
                         const real *save_logb, int n, int k) {
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_PTR_IN(fn, loss);
  ADV_CHECK_PTR_IN(fn, save_loga);
  ADV_CHECK_PTR_IN(fn, save_logb);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

/* da and db may each be NULL (skipped) */
int adv_check_kl_backward(const char *fn, const real *save_loga,
                          const real *save_logb, const real *g, int n, int k) {
  ADV_CHECK_PTR_IN(fn, save_loga);
  ADV_CHECK_PTR_IN(fn, save_logb);
  ADV_CHECK_PTR_IN(fn, g);
  ADV_CHECK_POS_IN(fn, n);
  ADV_CHECK_POS_IN(fn, k);
  return 0;
}

int adv_check_sq_error_forward(const char *fn, const real *a, const real *b,
                               const real *loss, int n) {
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_PTR_IN(fn, loss);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

/* da and db may each be NULL (skipped) */
int adv_check_sq_error_backward(const char *fn, const real *a, const real *b,
                                const real *g, int n) {
  ADV_CHECK_PTR_IN(fn, a);
  ADV_CHECK_PTR_IN(fn, b);
  ADV_CHECK_PTR_IN(fn, g);
  ADV_CHECK_POS_IN(fn, n);
  return 0;
}

/* ---- optimiser: ptrs and sizes are host memory in both libraries ---- */

int adv_check_adam_step(const char *fn, int count, const int64_t *ptrs,
                        const int *sizes, real beta1, real beta2, real eps,
                        real bc1, real bc2) {
  ADV_CHECK_POS_IN(fn, count);
  ADV_CHECK_PTR_IN(fn, ptrs);
  ADV_CHECK_PTR_IN(fn, sizes);
  ADV_CHECK_IN(fn, beta1 >= 0 && beta1 < 1,
               "argument 'beta1' must be in [0, 1), got %g", (double)beta1);
  ADV_CHECK_IN(fn, beta2 >= 0 && beta2 < 1,
               "argument 'beta2' must be in [0, 1), got %g", (double)beta2);
  ADV_CHECK_IN(fn, bc1 > 0 && bc1 <= 1,
               "argument 'bc1' must be in (0, 1], got %g", (double)bc1);
  ADV_CHECK_IN(fn, bc2 > 0 && bc2 <= 1,
               "argument 'bc2' must be in (0, 1], got %g", (double)bc2);
  ADV_CHECK_IN(fn, eps >= 0, "argument 'eps' must be >= 0, got %g",
               (double)eps);
  for (int t = 0; t < count; t++) {
    ADV_CHECK_IN(fn, sizes[t] > 0, "tensor %d: size must be > 0, got %d", t,
                 sizes[t]);
    for (int j = 0; j < 4; j++)
      ADV_CHECK_IN(fn, ptrs[4 * t + j] != 0,
                   "tensor %d: pointer %d (p, g, m, v) is NULL", t, j);
  }
  return 0;
}
