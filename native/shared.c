/* Compiled into both the CPU and the CUDA library (build.ts): the error slot
 * behind adv_last_error() and the argument checks that must read the same in
 * both. */
#include <limits.h>
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
