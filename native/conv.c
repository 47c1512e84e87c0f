/*
 * 2-D convolution, NCHW, weights (k, c, kh, kw), no bias/dilation/groups.
 *
 * All three passes are im2col + GEMM. For one sample x (c, h, w) the column
 * matrix col (c*kh*kw, oh*ow) holds in column p the input patch that output
 * pixel p sees, so
 *   forward:          y  (k, oh*ow)     = W (k, ckk) . col
 *   backward data:    dcol (ckk, oh*ow) = W^T . dy      then col2im -> dx
 *   backward filter:  dW (k, ckk)      += dy . col^T
 *
 * Work is cut into "tiles" of output columns: either a group of g whole
 * samples (when images are small, so the GEMM is still wide) or a band of
 * output rows of one sample (when one sample's column matrix would be too big).
 * A band of rows of y is a plain strided sub-matrix, so band GEMMs write y
 * in place; a group of samples needs a gather/scatter through a small buffer.
 *
 * Threads: with more than one OpenMP thread and n >= 2, samples are split into
 * one contiguous chunk per thread and every thread runs single-threaded BLAS
 * on its own tiles (im2col stays in that core's cache, and OpenMP threads never
 * compete with OpenBLAS's own pool). With one sample the loop runs serially
 * and OpenBLAS may use its threads. The filter gradient is summed per thread,
 * then the partial sums are added in thread order, so the result depends only
 * on the thread count.
 */
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#ifdef ADV_DOUBLE
#define GEMM cblas_dgemm
#else
#define GEMM cblas_sgemm
#endif

/* Tile sizing: a tile should have at least CONV_MIN_COLS columns (so the GEMM
 * is wide enough to run near peak) and its column matrix at most
 * CONV_MAX_COL_ELEMS elements (so it stays mostly in L2/L3 between im2col
 * and GEMM). Both were picked by timing on the 2-core target machine. */
#ifndef CONV_MIN_COLS
#define CONV_MIN_COLS 256
#endif
#ifndef CONV_MAX_COL_ELEMS
#define CONV_MAX_COL_ELEMS (1 << 19)
#endif

typedef struct {
  int n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow;
  int ckk;         /* c * kh * kw: rows of col */
  int ohw;         /* oh * ow */
  int g;           /* samples per tile (g > 1 only when band == oh) */
  int band;        /* output rows per tile */
  int direct;      /* 1x1, stride 1, no padding: col is x itself */
  int64_t col_len; /* scratch elements per thread for col */
  int64_t tmp_len; /* scratch elements per thread for gather/scatter */
} Conv;

/* ---- scratch: one buffer shared by the conv kernels, grown on demand ----
 * Not thread-safe: two conv calls must not run at the same time. */

static real *scratch_buf = NULL;
static size_t scratch_cap = 0;

static real *scratch(size_t elems) {
  if (elems > scratch_cap) {
    free(scratch_buf); /* free-on-growth: old contents are not needed */
    scratch_buf = NULL;
    scratch_cap = 0;
    size_t bytes = (elems * sizeof(real) + 63) / 64 * 64; /* aligned_alloc */
    scratch_buf = aligned_alloc(64, bytes);
    if (!scratch_buf) return NULL;
    scratch_cap = elems;
  }
  return scratch_buf;
}

/* elements rounded up to 64 bytes so per-thread slices do not share lines */
static int64_t pad64(int64_t elems) {
  const int64_t q = 64 / (int64_t)sizeof(real);
  return (elems + q - 1) / q * q;
}

/* ---- tiling ---- */

/* The geometry, checked by the caller (adv_check_conv2d_*). */
static void conv_setup(Conv *s, int n, int c, int h, int wd, int k, int kh,
                       int kw, int sh, int sw, int ph, int pw, int oh, int ow) {
  *s = (Conv){.n = n, .c = c, .h = h, .wd = wd, .k = k, .kh = kh, .kw = kw,
              .sh = sh, .sw = sw, .ph = ph, .pw = pw, .oh = oh, .ow = ow};
  s->ckk = c * kh * kw;
  s->ohw = oh * ow;
  s->direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  s->g = 1;
  s->band = oh;
  if (s->direct) {
    s->col_len = 0;
    s->tmp_len = 0;
    return;
  }
  if (s->ohw < CONV_MIN_COLS) {
    /* small images: several samples per tile */
    int64_t g = (CONV_MIN_COLS + s->ohw - 1) / s->ohw;
    int64_t gmax = CONV_MAX_COL_ELEMS / ((int64_t)s->ckk * s->ohw);
    if (g > gmax) g = gmax;
    if (g > n) g = n;
    s->g = g < 1 ? 1 : (int)g;
  } else {
    /* big images: a band of output rows per tile */
    int64_t b = CONV_MAX_COL_ELEMS / ((int64_t)s->ckk * ow);
    int64_t bmin = (CONV_MIN_COLS + ow - 1) / ow; /* keep tiles wide */
    if (b < bmin) b = bmin;
    if (b > oh) b = oh;
    s->band = (int)b;
  }
  s->col_len = pad64((int64_t)s->ckk * s->g * s->band * ow);
  s->tmp_len = s->g > 1 ? pad64((int64_t)s->k * s->g * s->ohw) : 0;
}

/* Threads for a pass over n samples: one chunk of samples per thread. */
static int conv_threads(const Conv *s) {
  int t = omp_get_max_threads();
  if (t > s->n) t = s->n;
  /* tiny problems: the fork costs more than the work */
  if ((int64_t)s->n * s->k * s->ohw < ADV_PARALLEL_MIN) t = 1;
  return t < 1 ? 1 : t;
}

/* ---- im2col / col2im on a band of output rows [r0, r1) of one sample ----
 * col has leading dimension ld; column (oy - r0) * ow + ox. */

static void im2col(const Conv *s, const real *x, real *col, int64_t ld, int r0,
                   int r1) {
  const int ow = s->ow;
  for (int ci = 0; ci < s->c; ci++) {
    const real *xc = x + (int64_t)ci * s->h * s->wd;
    for (int ki = 0; ki < s->kh; ki++) {
      for (int kj = 0; kj < s->kw; kj++) {
        real *dst = col + ((int64_t)(ci * s->kh + ki) * s->kw + kj) * ld;
        /* output columns ox whose input column ix = ox*sw - pw + kj is valid */
        int lo = 0, hi = ow;
        while (lo < ow && lo * s->sw - s->pw + kj < 0) lo++;
        while (hi > lo && (hi - 1) * s->sw - s->pw + kj >= s->wd) hi--;
        for (int oy = r0; oy < r1; oy++, dst += ow) {
          int iy = oy * s->sh - s->ph + ki;
          if (iy < 0 || iy >= s->h) {
            memset(dst, 0, sizeof(real) * ow);
            continue;
          }
          const real *src = xc + (int64_t)iy * s->wd - s->pw + kj;
          for (int ox = 0; ox < lo; ox++) dst[ox] = 0;
          if (s->sw == 1) {
            memcpy(dst + lo, src + lo, sizeof(real) * (hi - lo));
          } else {
            for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * s->sw];
          }
          for (int ox = hi; ox < ow; ox++) dst[ox] = 0;
        }
      }
    }
  }
}

/* dx += col2im(col): the adjoint of im2col */
static void col2im(const Conv *s, const real *col, int64_t ld, real *dx, int r0,
                   int r1) {
  const int ow = s->ow;
  for (int ci = 0; ci < s->c; ci++) {
    real *dc = dx + (int64_t)ci * s->h * s->wd;
    for (int ki = 0; ki < s->kh; ki++) {
      for (int kj = 0; kj < s->kw; kj++) {
        const real *src = col + ((int64_t)(ci * s->kh + ki) * s->kw + kj) * ld;
        int lo = 0, hi = ow;
        while (lo < ow && lo * s->sw - s->pw + kj < 0) lo++;
        while (hi > lo && (hi - 1) * s->sw - s->pw + kj >= s->wd) hi--;
        for (int oy = r0; oy < r1; oy++, src += ow) {
          int iy = oy * s->sh - s->ph + ki;
          if (iy < 0 || iy >= s->h) continue;
          real *dst = dc + (int64_t)iy * s->wd - s->pw + kj;
          if (s->sw == 1) {
            for (int ox = lo; ox < hi; ox++) dst[ox] += src[ox];
          } else {
            for (int ox = lo; ox < hi; ox++) dst[ox * s->sw] += src[ox];
          }
        }
      }
    }
  }
}

/* Fills col (ckk, g*rows*ow) for samples [i, i+g) and rows [r0, r1). */
static void im2col_tile(const Conv *s, const real *x, real *col, int i, int g,
                        int r0, int r1) {
  const int64_t cols = (int64_t)(r1 - r0) * s->ow;
  const int64_t xs = (int64_t)s->c * s->h * s->wd;
  for (int j = 0; j < g; j++)
    im2col(s, x + (i + j) * xs, col + j * cols, g * cols, r0, r1);
}

/* tmp (k, g*ohw) <- dy for samples [i, i+g): makes a group one matrix */
static void gather(const Conv *s, const real *dy, real *tmp, int i, int g) {
  const int64_t ld = (int64_t)g * s->ohw;
  for (int j = 0; j < g; j++)
    for (int kk = 0; kk < s->k; kk++)
      memcpy(tmp + kk * ld + (int64_t)j * s->ohw,
             dy + ((int64_t)(i + j) * s->k + kk) * s->ohw,
             sizeof(real) * s->ohw);
}

/* ---- forward ---- */

static void forward_chunk(const Conv *s, const real *x, const real *w, real *y,
                          int n0, int n1, real *col, real *tmp) {
  const int64_t xs = (int64_t)s->c * s->h * s->wd;
  const int64_t ys = (int64_t)s->k * s->ohw;
  for (int i = n0; i < n1; i += s->g) {
    int g = n1 - i < s->g ? n1 - i : s->g;
    if (s->direct) {
      GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->k, s->ohw, s->c, 1, w,
           s->ckk, x + i * xs, s->ohw, 0, y + i * ys, s->ohw);
      continue;
    }
    if (g == 1) {
      for (int r0 = 0; r0 < s->oh; r0 += s->band) {
        int r1 = r0 + s->band < s->oh ? r0 + s->band : s->oh;
        int cols = (r1 - r0) * s->ow;
        im2col_tile(s, x, col, i, 1, r0, r1);
        /* rows [r0, r1) of y[i] are a (k, cols) matrix with ld ohw */
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->k, cols, s->ckk, 1,
             w, s->ckk, col, cols, 0, y + i * ys + (int64_t)r0 * s->ow,
             s->ohw);
      }
    } else {
      int cols = g * s->ohw;
      im2col_tile(s, x, col, i, g, 0, s->oh);
      GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->k, cols, s->ckk, 1, w,
           s->ckk, col, cols, 0, tmp, cols);
      for (int j = 0; j < g; j++) /* scatter (k, g*ohw) back to NCHW */
        for (int kk = 0; kk < s->k; kk++)
          memcpy(y + (i + j) * ys + (int64_t)kk * s->ohw,
                 tmp + (int64_t)kk * cols + (int64_t)j * s->ohw,
                 sizeof(real) * s->ohw);
    }
  }
}

int adv_conv2d_forward(const real *x, const real *w, real *y, int n, int c,
                       int h, int wd, int k, int kh, int kw, int sh, int sw,
                       int ph, int pw, int oh, int ow) {
  if (adv_check_conv2d_forward(__func__, x, w, y, n, c, h, wd, k, kh, kw, sh,
                               sw, ph, pw, oh, ow))
    return 1;
#ifdef ADV_DNNL
  int via = adv_dnnl_conv2d(__func__, ADV_CONV_FORWARD, x, w, y, 0, n, c, h, wd,
                            k, kh, kw, sh, sw, ph, pw, oh, ow);
  if (via != ADV_DNNL_DECLINED) return via;
#endif
  Conv s;
  conv_setup(&s, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow);
  int nt = conv_threads(&s);
  int64_t per = s.col_len + s.tmp_len;
  real *buf = per > 0 ? scratch((size_t)(per * nt)) : NULL;
  ADV_CHECK(per == 0 || buf, "out of memory for %lld scratch elements",
            (long long)(per * nt));
  if (nt == 1) {
    forward_chunk(&s, x, w, y, 0, n, buf, buf ? buf + s.col_len : NULL);
    return 0;
  }
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1); /* never nest BLAS threads inside OpenMP */
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num();
    int n0 = (int)((int64_t)n * t / nt), n1 = (int)((int64_t)n * (t + 1) / nt);
    real *col = buf ? buf + t * per : NULL;
    forward_chunk(&s, x, w, y, n0, n1, col, col ? col + s.col_len : NULL);
  }
  openblas_set_num_threads(blas_threads);
  return 0;
}

/* ---- backward data ---- */

static void backward_data_chunk(const Conv *s, const real *dy, const real *w,
                                real *dx, int n0, int n1, int accumulate,
                                real *col, real *tmp) {
  const int64_t xs = (int64_t)s->c * s->h * s->wd;
  const int64_t ys = (int64_t)s->k * s->ohw;
  for (int i = n0; i < n1; i += s->g) {
    int g = n1 - i < s->g ? n1 - i : s->g;
    if (s->direct) {
      GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, s->c, s->ohw, s->k, 1, w,
           s->ckk, dy + i * ys, s->ohw, accumulate ? 1 : 0, dx + i * xs,
           s->ohw);
      continue;
    }
    /* col2im adds, so start from zero unless accumulating */
    if (!accumulate) memset(dx + i * xs, 0, sizeof(real) * xs * g);
    if (g == 1) {
      for (int r0 = 0; r0 < s->oh; r0 += s->band) {
        int r1 = r0 + s->band < s->oh ? r0 + s->band : s->oh;
        int cols = (r1 - r0) * s->ow;
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, s->ckk, cols, s->k, 1, w,
             s->ckk, dy + i * ys + (int64_t)r0 * s->ow, s->ohw, 0, col, cols);
        col2im(s, col, cols, dx + i * xs, r0, r1);
      }
    } else {
      int cols = g * s->ohw;
      gather(s, dy, tmp, i, g);
      GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, s->ckk, cols, s->k, 1, w,
           s->ckk, tmp, cols, 0, col, cols);
      for (int j = 0; j < g; j++)
        col2im(s, col + (int64_t)j * s->ohw, cols, dx + (i + j) * xs, 0, s->oh);
    }
  }
}

int adv_conv2d_backward_data(const real *dy, const real *w, real *dx, int n,
                             int c, int h, int wd, int k, int kh, int kw,
                             int sh, int sw, int ph, int pw, int oh, int ow,
                             int accumulate) {
  if (adv_check_conv2d_backward_data(__func__, dy, w, dx, n, c, h, wd, k, kh,
                                     kw, sh, sw, ph, pw, oh, ow))
    return 1;
#ifdef ADV_DNNL
  int via = adv_dnnl_conv2d(__func__, ADV_CONV_BACKWARD_DATA, dy, w, dx,
                            accumulate, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                            oh, ow);
  if (via != ADV_DNNL_DECLINED) return via;
#endif
  Conv s;
  conv_setup(&s, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow);
  int nt = conv_threads(&s);
  int64_t per = s.col_len + s.tmp_len;
  real *buf = per > 0 ? scratch((size_t)(per * nt)) : NULL;
  ADV_CHECK(per == 0 || buf, "out of memory for %lld scratch elements",
            (long long)(per * nt));
  if (nt == 1) {
    backward_data_chunk(&s, dy, w, dx, 0, n, accumulate, buf,
                        buf ? buf + s.col_len : NULL);
    return 0;
  }
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num();
    int n0 = (int)((int64_t)n * t / nt), n1 = (int)((int64_t)n * (t + 1) / nt);
    real *col = buf ? buf + t * per : NULL;
    backward_data_chunk(&s, dy, w, dx, n0, n1, accumulate, col,
                        col ? col + s.col_len : NULL);
  }
  openblas_set_num_threads(blas_threads);
  return 0;
}

/* ---- backward filter ---- */

/* dw (k, ckk) = beta * dw + sum over samples [n0, n1) of dy . col^T */
static void backward_filter_chunk(const Conv *s, const real *x, const real *dy,
                                  real *dw, real beta, int n0, int n1,
                                  real *col, real *tmp) {
  const int64_t xs = (int64_t)s->c * s->h * s->wd;
  const int64_t ys = (int64_t)s->k * s->ohw;
  for (int i = n0; i < n1; i += s->g) {
    int g = n1 - i < s->g ? n1 - i : s->g;
    if (s->direct) {
      GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, s->k, s->c, s->ohw, 1,
           dy + i * ys, s->ohw, x + i * xs, s->ohw, beta, dw, s->ckk);
      beta = 1;
      continue;
    }
    if (g == 1) {
      for (int r0 = 0; r0 < s->oh; r0 += s->band) {
        int r1 = r0 + s->band < s->oh ? r0 + s->band : s->oh;
        int cols = (r1 - r0) * s->ow;
        im2col_tile(s, x, col, i, 1, r0, r1);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, s->k, s->ckk, cols, 1,
             dy + i * ys + (int64_t)r0 * s->ow, s->ohw, col, cols, beta, dw,
             s->ckk);
        beta = 1;
      }
    } else {
      int cols = g * s->ohw;
      im2col_tile(s, x, col, i, g, 0, s->oh);
      gather(s, dy, tmp, i, g);
      GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, s->k, s->ckk, cols, 1, tmp,
           cols, col, cols, beta, dw, s->ckk);
      beta = 1;
    }
  }
}

int adv_conv2d_backward_filter(const real *x, const real *dy, real *dw, int n,
                               int c, int h, int wd, int k, int kh, int kw,
                               int sh, int sw, int ph, int pw, int oh, int ow,
                               int accumulate) {
  if (adv_check_conv2d_backward_filter(__func__, x, dy, dw, n, c, h, wd, k, kh,
                                       kw, sh, sw, ph, pw, oh, ow))
    return 1;
#ifdef ADV_DNNL
  int via = adv_dnnl_conv2d(__func__, ADV_CONV_BACKWARD_WEIGHTS, x, dy, dw,
                            accumulate, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                            oh, ow);
  if (via != ADV_DNNL_DECLINED) return via;
#endif
  Conv s;
  conv_setup(&s, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow);
  int nt = conv_threads(&s);
  if (nt == 1) {
    int64_t per = s.col_len + s.tmp_len;
    real *buf = per > 0 ? scratch((size_t)per) : NULL;
    ADV_CHECK(per == 0 || buf, "out of memory for %lld scratch elements",
              (long long)per);
    backward_filter_chunk(&s, x, dy, dw, accumulate ? 1 : 0, 0, n, buf,
                          buf ? buf + s.col_len : NULL);
    return 0;
  }
  /* per thread: a private dw, then col and tmp */
  const int64_t nw = (int64_t)k * s.ckk;
  int64_t per = pad64(nw) + s.col_len + s.tmp_len;
  real *buf = scratch((size_t)(per * nt));
  ADV_CHECK(buf, "out of memory for %lld scratch elements",
            (long long)(per * nt));
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num();
    int n0 = (int)((int64_t)n * t / nt), n1 = (int)((int64_t)n * (t + 1) / nt);
    real *part = buf + t * per;
    real *col = part + pad64(nw);
    backward_filter_chunk(&s, x, dy, part, 0, n0, n1, col, col + s.col_len);
#pragma omp barrier
    /* add the partial sums in thread order: deterministic for a given nt */
#pragma omp for schedule(static)
    for (int64_t e = 0; e < nw; e++) {
      real acc = accumulate ? dw[e] : 0;
      for (int u = 0; u < nt; u++) acc += buf[u * per + e];
      dw[e] = acc;
    }
  }
  openblas_set_num_threads(blas_threads);
  return 0;
}
