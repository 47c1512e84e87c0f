/* Elementwise kernels and reductions.
 *
 * Every reduction accumulates in double and adds in an order fixed by the
 * shapes alone, so a result never depends on the number of threads: we only
 * parallelise over independent outputs, or over fixed-size blocks whose
 * partial sums are then added in order. */
#include <stdlib.h>

#include "common.h"
#include "hostdevice.h"
#include "realmath.h"

#define MAX_DIMS ADV_MAX_DIMS

/* ---- summation helpers ---- */

/* Eight interleaved partial sums: a fixed order (reproducible) that the
 * compiler can still turn into vector adds, unlike one serial chain. */
#define LANES 8

static double sum_run(const real *x, int64_t n) {
  double acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (double)x[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += (double)x[i];
  double s = 0.0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  return s;
}

static double dot_run(const real *x, const real *y, int64_t n) {
  double acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (double)x[i + l] * y[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += (double)x[i] * y[i];
  double s = 0.0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  return s;
}

/* Sum of a long vector: blocks whose size depends only on n (at most 1024 of
 * them) are summed in parallel, then the partials in order. */
static double sum_blocks(const real *x, int64_t n) {
  int64_t blk = 8192;
  while ((n + blk - 1) / blk > 1024) blk *= 2;
  int64_t nb = (n + blk - 1) / blk;
  double part[1024];
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t b = 0; b < nb; b++) {
    int64_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
    part[b] = sum_run(x + lo, hi - lo);
  }
  double s = 0.0;
  for (int64_t b = 0; b < nb; b++) s += part[b];
  return s;
}

/* ---- bias ---- */

/* y[n,c,s] = x[n,c,s] + b[c]; x may equal y. s == 1 (dense layers) gets its
 * own loop so the inner loop runs along c instead of over one element. */
int adv_bias_add(real *y, const real *x, const real *b, int n, int c, int s) {
  if (adv_check_bias_add(__func__, y, x, b, n, c, s)) return 1;
  int64_t total = (int64_t)n * c * s;
  if (s == 1) {
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) {
      const real *xi = x + (int64_t)i * c;
      real *yi = y + (int64_t)i * c;
      for (int j = 0; j < c; j++) yi[j] = xi[j] + b[j];
    }
    return 0;
  }
  int64_t rows = (int64_t)n * c;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const real *xr = x + r * s;
    real *yr = y + r * s;
    real bj = b[r % c];
    for (int t = 0; t < s; t++) yr[t] = xr[t] + bj;
  }
  return 0;
}

/* db[c] (+)= sum over n and s of dy[n,c,s]. */
int adv_bias_grad(real *db, const real *dy, int n, int c, int s,
                  int accumulate) {
  if (adv_check_bias_grad(__func__, db, dy, n, c, s)) return 1;
  int64_t total = (int64_t)n * c * s;
  if (s == 1) {
    /* columns of an (n, c) matrix: each thread owns a strip of 64 columns
     * and walks down the rows, so reads stay contiguous */
    int strips = (c + 63) / 64;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
    for (int st = 0; st < strips; st++) {
      int j0 = st * 64, w = c - j0 < 64 ? c - j0 : 64;
      double acc[64] = {0};
      for (int i = 0; i < n; i++) {
        const real *row = dy + (int64_t)i * c + j0;
        for (int j = 0; j < w; j++) acc[j] += (double)row[j];
      }
      for (int j = 0; j < w; j++)
        db[j0 + j] = (real)((accumulate ? (double)db[j0 + j] : 0.0) + acc[j]);
    }
    return 0;
  }
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int j = 0; j < c; j++) {
    double acc = 0.0;
    for (int i = 0; i < n; i++)
      acc += sum_run(dy + ((int64_t)i * c + j) * s, s);
    db[j] = (real)((accumulate ? (double)db[j] : 0.0) + acc);
  }
  return 0;
}

/* ---- simple elementwise ---- */

/* y = a x + b y; x may equal y. b == 0 does not read y (as BLAS's beta), so y
 * may start uninitialised. */
int adv_axpby(real *y, real a, const real *x, real b, int n) {
  if (adv_check_axpby(__func__, y, x, n)) return 1;
  if (b == 0) {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) y[i] = a * x[i];
  } else {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
  }
  return 0;
}

/* y = a x + c; x may equal y. */
int adv_affine(real *y, const real *x, real a, real c, int n) {
  if (adv_check_affine(__func__, y, x, n)) return 1;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) y[i] = a * x[i] + c;
  return 0;
}

/* out (+)= a b; out may equal a or b. */
int adv_mul(real *out, const real *a, const real *b, int n, int accumulate) {
  if (adv_check_mul(__func__, out, a, b, n)) return 1;
  if (accumulate) {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) out[i] += a[i] * b[i];
  } else {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) out[i] = a[i] * b[i];
  }
  return 0;
}

/* ---- broadcasting ---- */

/* One output row of a broadcast op. The stride pairs (1,1), (1,0) and (0,1)
 * get their own loops so they vectorise; anything else is a strided loop. */
#define DEFINE_ROW(name, OP)                                                   \
  static void name(real *out, const real *a, int64_t sa, const real *b,       \
                   int64_t sb, int64_t len) {                                  \
    if (sa == 1 && sb == 1) {                                                  \
      for (int64_t j = 0; j < len; j++) out[j] = a[j] OP b[j];                 \
    } else if (sa == 1 && sb == 0) {                                           \
      real bv = b[0];                                                          \
      for (int64_t j = 0; j < len; j++) out[j] = a[j] OP bv;                   \
    } else if (sa == 0 && sb == 1) {                                           \
      real av = a[0];                                                          \
      for (int64_t j = 0; j < len; j++) out[j] = av OP b[j];                   \
    } else {                                                                   \
      for (int64_t j = 0; j < len; j++) out[j] = a[j * sa] OP b[j * sb];       \
    }                                                                          \
  }
DEFINE_ROW(row_add, +)
DEFINE_ROW(row_sub, -)
DEFINE_ROW(row_mul, *)
DEFINE_ROW(row_div, /)

typedef void (*row_fn)(real *, const real *, int64_t, const real *, int64_t,
                       int64_t);

/* out = a op b with numpy-style broadcasting expressed through strides; out
 * is dense with out_shape. ndim == 0 means a single element. out may equal
 * a or b when that operand has out's shape. */
int adv_broadcast_binary(int op, real *out, const int *out_shape, int ndim,
                         const real *a, const int *a_strides, const real *b,
                         const int *b_strides) {
  if (adv_check_broadcast_binary(__func__, op, out, out_shape, ndim, a,
                                 a_strides, b, b_strides))
    return 1;
  int64_t shape[MAX_DIMS], sa[MAX_DIMS], sb[MAX_DIMS], total;
  int nd = adv_broadcast_dims(ndim, out_shape, a_strides, b_strides, shape, sa,
                              sb, &total);
  row_fn row = op == 0 ? row_add : op == 1 ? row_sub : op == 2 ? row_mul
                                                               : row_div;
  int64_t len = shape[nd - 1], rows = total / len;
  int64_t sa_in = sa[nd - 1], sb_in = sb[nd - 1];
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t oa, ob;
    adv_offsets_of(r, nd - 1, shape, sa, sb, &oa, &ob);
    row(out + r * len, a + oa, sa_in, b + ob, sb_in, len);
  }
  return 0;
}

/* Walks a multi-index over some dimensions in row-major order, keeping the
 * matching offset, without a division per step. */
typedef struct {
  int nd;
  int64_t shape[MAX_DIMS], stride[MAX_DIMS], idx[MAX_DIMS], off;
} odometer;

static void odo_next(odometer *o) {
  for (int d = o->nd - 1; d >= 0; d--) {
    o->off += o->stride[d];
    if (++o->idx[d] < o->shape[d]) return;
    o->off -= o->stride[d] * o->shape[d];
    o->idx[d] = 0;
  }
}

/* out (+)= in summed down to out's shape (the backward of a broadcast).
 * Each output element sums its inputs in row-major order of in, so the
 * result is the same for any thread count. Two layouts, after coalescing:
 * - innermost dimension kept: rows of in are added into a chunk of
 *   double accumulators (contiguous, vectorised);
 * - innermost dimension summed: each output adds up contiguous runs. */
#define CHUNK 256
int adv_sum_to(real *out, const int *out_strides, const real *in,
               const int *in_shape, int ndim, int accumulate) {
  if (adv_check_sum_to(__func__, out, out_strides, in, in_shape, ndim))
    return 1;
  int64_t shape[MAX_DIMS], os[MAX_DIMS], is[MAX_DIMS], total;
  int nd = adv_sum_to_dims(ndim, in_shape, out_strides, shape, os, is, &total);

  /* split the outer dimensions into kept (out stride != 0) and summed */
  odometer kept = {0}, red = {0};
  int64_t kept_is[MAX_DIMS], nkeep = 1, nred = 1;
  for (int d = 0; d < nd - 1; d++) {
    if (os[d] != 0) {
      kept.shape[kept.nd] = shape[d];
      kept.stride[kept.nd] = os[d];
      kept_is[kept.nd++] = is[d];
      nkeep *= shape[d];
    } else {
      red.shape[red.nd] = shape[d];
      red.stride[red.nd++] = is[d];
      nred *= shape[d];
    }
  }
  int64_t len = shape[nd - 1], os_in = os[nd - 1];

  if (os_in != 0) {
    int64_t nch = (len + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
    for (int64_t w = 0; w < nkeep * nch; w++) {
      int64_t ob, ib, j0 = (w % nch) * CHUNK;
      int64_t cw = len - j0 < CHUNK ? len - j0 : CHUNK;
      adv_offsets_of(w / nch, kept.nd, kept.shape, kept.stride, kept_is, &ob,
                     &ib);
      double acc[CHUNK] = {0};
      odometer o = red;
      for (int64_t r = 0; r < nred; r++, odo_next(&o)) {
        const real *src = in + ib + o.off + j0;
        for (int64_t j = 0; j < cw; j++) acc[j] += (double)src[j];
      }
      real *dst = out + ob + j0 * os_in;
      for (int64_t j = 0; j < cw; j++)
        dst[j * os_in] =
            (real)((accumulate ? (double)dst[j * os_in] : 0.0) + acc[j]);
    }
    return 0;
  }

  if (nkeep == 1 && nred == 1) { /* everything summed: one long vector */
    double s = sum_blocks(in, len);
    out[0] = (real)((accumulate ? (double)out[0] : 0.0) + s);
    return 0;
  }
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t k = 0; k < nkeep; k++) {
    int64_t ob, ib;
    adv_offsets_of(k, kept.nd, kept.shape, kept.stride, kept_is, &ob, &ib);
    double acc = 0.0;
    odometer o = red;
    for (int64_t r = 0; r < nred; r++, odo_next(&o))
      acc += sum_run(in + ib + o.off, len);
    out[ob] = (real)((accumulate ? (double)out[ob] : 0.0) + acc);
  }
  return 0;
}

/* ---- full sums ---- */

/* out[0] = scale * sum(x). */
int adv_sum(real *out, const real *x, int n, real scale) {
  if (adv_check_sum(__func__, out, x, n)) return 1;
  out[0] = (real)((double)scale * sum_blocks(x, n));
  return 0;
}

/* dx (+)= scale g[0]: the backward of sum and mean. */
int adv_fill_from_scalar(real *dx, const real *g, real scale, int n,
                         int accumulate) {
  if (adv_check_fill_from_scalar(__func__, dx, g, n)) return 1;
  real v = scale * g[0];
  if (accumulate) {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] += v;
  } else {
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] = v;
  }
  return 0;
}

/* dst[r * dst_stride + j] (+)= src[r * src_stride + j]: channel concatenation
 * and its backward. dst and src must not overlap. */
int adv_copy_rows(real *dst, int dst_stride, const real *src, int src_stride,
                  int rows, int len, int accumulate) {
  if (adv_check_copy_rows(__func__, dst, dst_stride, src, src_stride, rows,
                          len))
    return 1;
  int64_t total = (int64_t)rows * len;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int r = 0; r < rows; r++) {
    real *restrict d = dst + (int64_t)r * dst_stride;
    const real *restrict s = src + (int64_t)r * src_stride;
    if (accumulate)
      for (int j = 0; j < len; j++) d[j] += s[j];
    else
      for (int j = 0; j < len; j++) d[j] = s[j];
  }
  return 0;
}

/* ---- activations ---- */

/* kind: 0 relu, 1 leaky relu, 2 sigmoid, 3 tanh. x may equal y. relu passes
 * NaN through (x < 0 is false for NaN) so NaNs are not hidden. */
int adv_act_forward(int kind, real slope, const real *x, real *y, int n) {
  if (adv_check_act_forward(__func__, kind, x, y, n)) return 1;
  switch (kind) {
  case 0:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) y[i] = x[i] < 0 ? (real)0 : x[i];
    break;
  case 1:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) y[i] = x[i] < 0 ? slope * x[i] : x[i];
    break;
  case 2:
    /* exp(-|x|) never overflows; for x < 0, sigmoid(x) = e / (1 + e) */
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) {
      real e = R_EXP(-R_FABS(x[i]));
      real s = 1 / (1 + e);
      y[i] = x[i] >= 0 ? s : e * s;
    }
    break;
  default:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) y[i] = R_TANH(x[i]);
    break;
  }
  return 0;
}

/* dx (+)= dy f'(.). relu and leaky relu read x (y may be NULL); sigmoid and
 * tanh read y (x may be NULL). dx may equal dy. */
int adv_act_backward(int kind, real slope, const real *x, const real *y,
                     const real *dy, real *dx, int n, int accumulate) {
  if (adv_check_act_backward(__func__, kind, x, y, dy, dx, n)) return 1;
  if (!accumulate) { /* never read dx when overwriting: it may be garbage */
    switch (kind) {
    case 0:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
      for (int i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : (real)0;
      break;
    case 1:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
      for (int i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : slope * dy[i];
      break;
    case 2:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
      for (int i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
      break;
    default:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
      for (int i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
      break;
    }
    return 0;
  }
  switch (kind) {
  case 0:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : (real)0;
    break;
  case 1:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : slope * dy[i];
    break;
  case 2:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
    break;
  default:
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) dx[i] += dy[i] * (1 - y[i] * y[i]);
    break;
  }
  return 0;
}

/* ---- row L2 normalisation ---- */

/* y = x / sqrt(eps + |x|^2) per row of an (n, d) matrix; x may equal y. */
int adv_l2norm_forward(const real *x, real *y, int n, int d, real eps) {
  if (adv_check_l2norm_forward(__func__, x, y, n, d, eps)) return 1;
  int64_t total = (int64_t)n * d;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const real *xi = x + (int64_t)i * d;
    real *yi = y + (int64_t)i * d;
    real inv = (real)(1.0 / sqrt((double)eps + dot_run(xi, xi, d)));
    for (int j = 0; j < d; j++) yi[j] = xi[j] * inv;
  }
  return 0;
}

/* With r = sqrt(eps + |x|^2): dx = dy / r - x (x . dy) / r^3. Recomputes r
 * from x rather than saving it: one extra pass over a row is cheap. */
int adv_l2norm_backward(const real *x, const real *dy, real *dx, int n, int d,
                        real eps, int accumulate) {
  if (adv_check_l2norm_backward(__func__, x, dy, dx, n, d, eps)) return 1;
  int64_t total = (int64_t)n * d;
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) {
    const real *xi = x + (int64_t)i * d, *gi = dy + (int64_t)i * d;
    real *dxi = dx + (int64_t)i * d;
    double r = sqrt((double)eps + dot_run(xi, xi, d));
    double dot = dot_run(xi, gi, d);
    real a = (real)(1.0 / r), b = (real)(dot / (r * r * r));
    if (accumulate)
      for (int j = 0; j < d; j++) dxi[j] += a * gi[j] - b * xi[j];
    else
      for (int j = 0; j < d; j++) dxi[j] = a * gi[j] - b * xi[j];
  }
  return 0;
}

/* ---- evaluation ---- */

/* out[0] = rows whose first argmax differs from the label. Labels must be
 * integers in [0, k); otherwise nothing is written and an error returned. */
int adv_count_errors(real *out, const real *logits, const real *labels, int n,
                     int k) {
  if (adv_check_count_errors(__func__, out, logits, labels, n, k)) return 1;
  int64_t total = (int64_t)n * k;
  int errors = 0, bad = n; /* first row with an invalid label, n if none */
#pragma omp parallel for if (total > ADV_PARALLEL_MIN) schedule(static) \
    reduction(+ : errors) reduction(min : bad)
  for (int i = 0; i < n; i++) {
    real l = labels[i];
    if (!(l >= 0 && l < k) || l != (real)(int)l) {
      bad = bad < i ? bad : i;
      continue;
    }
    const real *row = logits + (int64_t)i * k;
    int best = 0;
    for (int j = 1; j < k; j++)
      if (row[j] > row[best]) best = j;
    errors += best != (int)l;
  }
  /* found while counting, hence not in adv_check_count_errors (the CUDA twin
   * reads the outcome back from the device) */
  ADV_CHECK(bad == n, "labels[%d] = %g is not a class index in [0, %d)", bad,
            (double)labels[bad], k);
  out[0] = (real)errors;
  return 0;
}
