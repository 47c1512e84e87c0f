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

/* Checks shared by the max pooling kernels; returns 0 or the failure status. */
static int pool_check(const char *fn, int n, int c, int h, int wd, int kh,
                      int kw, int sh, int sw, int ph, int pw, int oh, int ow) {
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

/* Index (within the plane) of the first maximum of the window at (oy, ox).
 * NaN wins, as in PyTorch, so a diverging network shows up in the output. */
static int64_t window_argmax(const real *xp, int h, int wd, int kh, int kw,
                             int sh, int sw, int ph, int pw, int oy, int ox) {
  int y0 = oy * sh - ph, x0 = ox * sw - pw;
  int ya = y0 < 0 ? 0 : y0, yb = y0 + kh < h ? y0 + kh : h;
  int xa = x0 < 0 ? 0 : x0, xb = x0 + kw < wd ? x0 + kw : wd;
  int64_t best = (int64_t)ya * wd + xa;
  real m = -INFINITY;
  for (int iy = ya; iy < yb; iy++) {
    for (int ix = xa; ix < xb; ix++) {
      real v = xp[(int64_t)iy * wd + ix];
      if (v > m || (isnan(v) && !isnan(m))) {
        m = v;
        best = (int64_t)iy * wd + ix;
      }
    }
  }
  return best;
}

int adv_maxpool_forward(const real *x, real *y, int n, int c, int h, int wd,
                        int kh, int kw, int sh, int sw, int ph, int pw, int oh,
                        int ow) {
  ADV_CHECK_PTR(x);
  ADV_CHECK_PTR(y);
  int err = pool_check(__func__, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
  if (err) return err;
  const int64_t planes = (int64_t)n * c, hw = (int64_t)h * wd,
                ohw = (int64_t)oh * ow;
#pragma omp parallel for if (planes * hw > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const real *xp = x + p * hw;
    real *yp = y + p * ohw;
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        yp[oy * ow + ox] =
            xp[window_argmax(xp, h, wd, kh, kw, sh, sw, ph, pw, oy, ox)];
  }
  return 0;
}

int adv_maxpool_backward(const real *x, const real *dy, real *dx, int n, int c,
                         int h, int wd, int kh, int kw, int sh, int sw, int ph,
                         int pw, int oh, int ow, int accumulate) {
  ADV_CHECK_PTR(x);
  ADV_CHECK_PTR(dy);
  ADV_CHECK_PTR(dx);
  int err = pool_check(__func__, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
  if (err) return err;
  const int64_t planes = (int64_t)n * c, hw = (int64_t)h * wd,
                ohw = (int64_t)oh * ow;
#pragma omp parallel for if (planes * hw > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const real *xp = x + p * hw;
    const real *dyp = dy + p * ohw;
    real *dxp = dx + p * hw;
    if (!accumulate) memset(dxp, 0, sizeof(real) * hw);
    /* overlapping windows may route several gradients to one input */
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        dxp[window_argmax(xp, h, wd, kh, kw, sh, sw, ph, pw, oy, ox)] +=
            dyp[oy * ow + ox];
  }
  return 0;
}

/* ---- global average pooling: x (nc, s) -> y (nc) ---- */

int adv_global_avgpool_forward(const real *x, real *y, int nc, int s) {
  ADV_CHECK_PTR(x);
  ADV_CHECK_PTR(y);
  ADV_CHECK_POS(nc);
  ADV_CHECK_POS(s);
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
  ADV_CHECK_PTR(dy);
  ADV_CHECK_PTR(dx);
  ADV_CHECK_POS(nc);
  ADV_CHECK_POS(s);
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
