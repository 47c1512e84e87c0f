/*
 * Pooling, NCHW. Every (sample, channel) plane is independent, so the loops
 * run in parallel over planes.
 *
 * Max pooling treats padding as -infinity and keeps no index buffer: the
 * backward pass finds the same first maximum again in each window (the
 * windows are small and the input is still in memory).
 */
#include <math.h>
#include <string.h>

#include "common.h"


/* Both passes walk one output row at a time, CHUNK outputs at once: for each
 * kernel offset (ki, kj) they update the running max of every output in the
 * chunk. The inner loop then runs over ox with no branches and vectorises,
 * and each window is still scanned in row-major order, so a strict ">" keeps
 * the first maximum. Padding is skipped, which is the same as -infinity. */
#define CHUNK 256

/* outputs ox in [lo, hi) whose input column ox*sw - pw + kj is inside [0, wd) */
static void valid_cols(int ow, int wd, int sw, int pw, int kj, int *lo,
                       int *hi) {
  int a = 0, b = ow;
  while (a < ow && a * sw - pw + kj < 0) a++;
  while (b > a && (b - 1) * sw - pw + kj >= wd) b--;
  *lo = a;
  *hi = b;
}

/* NaN wins, as in PyTorch, so a diverging network shows up in the output. */
int adv_maxpool_forward(const real *x, real *y, int n, int c, int h, int wd,
                        int kh, int kw, int sh, int sw, int ph, int pw, int oh,
                        int ow) {
  if (adv_check_maxpool_forward(__func__, x, y, n, c, h, wd, kh, kw, sh, sw, ph,
                                pw, oh, ow))
    return 1;
  const int64_t planes = (int64_t)n * c, hw = (int64_t)h * wd,
                ohw = (int64_t)oh * ow;
#pragma omp parallel for if (planes * hw > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const real *xp = x + p * hw;
    for (int oy = 0; oy < oh; oy++) {
      real *yr = y + p * ohw + (int64_t)oy * ow;
      for (int ox = 0; ox < ow; ox++) yr[ox] = -INFINITY;
      for (int ki = 0; ki < kh; ki++) {
        int iy = oy * sh - ph + ki;
        if (iy < 0 || iy >= h) continue;
        for (int kj = 0; kj < kw; kj++) {
          int lo, hi;
          valid_cols(ow, wd, sw, pw, kj, &lo, &hi);
          const real *row = xp + (int64_t)iy * wd - pw + kj;
          for (int ox = lo; ox < hi; ox++) {
            real v = row[ox * sw], m = yr[ox];
            yr[ox] = (v > m || v != v) ? v : m; /* a NaN max stays NaN */
          }
        }
      }
    }
  }
  return 0;
}

/* Backward routes each dy to the first maximum of its window (the first NaN
 * if there is one), found again from x. */
int adv_maxpool_backward(const real *x, const real *dy, real *dx, int n, int c,
                         int h, int wd, int kh, int kw, int sh, int sw, int ph,
                         int pw, int oh, int ow, int accumulate) {
  if (adv_check_maxpool_backward(__func__, x, dy, dx, n, c, h, wd, kh, kw, sh,
                                 sw, ph, pw, oh, ow))
    return 1;
  const int64_t planes = (int64_t)n * c, hw = (int64_t)h * wd,
                ohw = (int64_t)oh * ow;
#pragma omp parallel for if (planes * hw > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const real *xp = x + p * hw;
    real *dxp = dx + p * hw;
    real m[CHUNK];
    int best[CHUNK]; /* index into the plane, < h * wd */
    if (!accumulate) memset(dxp, 0, sizeof(real) * hw);
    for (int oy = 0; oy < oh; oy++) {
      const real *dyr = dy + p * ohw + (int64_t)oy * ow;
      for (int o0 = 0; o0 < ow; o0 += CHUNK) {
        int o1 = o0 + CHUNK < ow ? o0 + CHUNK : ow;
        for (int ox = o0; ox < o1; ox++) {
          m[ox - o0] = -INFINITY;
          best[ox - o0] = -1;
        }
        for (int ki = 0; ki < kh; ki++) {
          int iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          for (int kj = 0; kj < kw; kj++) {
            int lo, hi;
            valid_cols(ow, wd, sw, pw, kj, &lo, &hi);
            if (lo < o0) lo = o0;
            if (hi > o1) hi = o1;
            const int base = iy * wd - pw + kj;
            for (int ox = lo; ox < hi; ox++) {
              real v = xp[base + ox * sw], cur = m[ox - o0];
              /* first element, a larger one, or the first NaN */
              int take = best[ox - o0] < 0 || v > cur || (v != v && cur == cur);
              m[ox - o0] = take ? v : cur;
              best[ox - o0] = take ? base + ox * sw : best[ox - o0];
            }
          }
        }
        /* overlapping windows may route several gradients to one input */
        for (int ox = o0; ox < o1; ox++) dxp[best[ox - o0]] += dyr[ox];
      }
    }
  }
  return 0;
}

/* ---- global average pooling: x (nc, s) -> y (nc) ---- */

int adv_global_avgpool_forward(const real *x, real *y, int nc, int s) {
  if (adv_check_global_avgpool_forward(__func__, x, y, nc, s)) return 1;
#pragma omp parallel for if ((int64_t)nc * s > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < nc; i++) {
    const real *xi = x + (int64_t)i * s;
    double sum = 0;
    for (int j = 0; j < s; j++) sum += xi[j];
    y[i] = (real)(sum / s);
  }
  return 0;
}

int adv_global_avgpool_backward(const real *dy, real *dx, int nc, int s,
                                int accumulate) {
  if (adv_check_global_avgpool_backward(__func__, dy, dx, nc, s)) return 1;
#pragma omp parallel for if ((int64_t)nc * s > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < nc; i++) {
    real g = (real)(dy[i] / (double)s);
    real *dxi = dx + (int64_t)i * s;
    if (accumulate) {
      for (int j = 0; j < s; j++) dxi[j] += g;
    } else {
      for (int j = 0; j < s; j++) dxi[j] = g;
    }
  }
  return 0;
}
