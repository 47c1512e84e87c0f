/* Shared helpers for the native kernels: argument checks and the error slot. */
#ifndef ADVSSL_COMMON_H
#define ADVSSL_COMMON_H

#include "advssl.h"

/* Records "fn: message" for adv_last_error() and returns a non-zero status. */
int adv_fail(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks the geometry of a convolution (native/shared.c): positive sizes,
 * non-negative padding, a kernel that fits, and oh, ow = floor((h + 2 ph -
 * kh) / sh) + 1 (floor: a transposed convolution's input may be up to sh - 1
 * larger). Returns 0, or records "fn: ..." and returns 1. */
int adv_check_conv_geometry(const char *fn, int n, int c, int h, int wd, int k,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow);

/* Checks the geometry of a pooling window (native/shared.c): as for a
 * convolution without output channels, and padding below the kernel size so
 * that every window holds a real element. */
int adv_check_pool_geometry(const char *fn, int n, int c, int h, int wd,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow);

#define ADV_CHECK(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) return adv_fail(__func__, __VA_ARGS__);                       \
  } while (0)
#define ADV_CHECK_PTR(p) ADV_CHECK((p) != 0, "argument '%s' is NULL", #p)
#define ADV_CHECK_POS(v) ADV_CHECK((v) > 0, "argument '%s' must be > 0, got %d", #v, (int)(v))
#define ADV_CHECK_NONNEG(v) ADV_CHECK((v) >= 0, "argument '%s' must be >= 0, got %d", #v, (int)(v))

/* Loops below this many elements stay on one thread: waking threads costs
 * more than it saves. */
#define ADV_PARALLEL_MIN 32768

#endif
