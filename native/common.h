/* Shared helpers for the native kernels: argument checks and the error slot. */
#ifndef ADVSSL_COMMON_H
#define ADVSSL_COMMON_H

#include "advssl.h"

/* Records "fn: message" for adv_last_error() and returns a non-zero status. */
int adv_fail(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
