/* The error slot behind adv_last_error(), shared by the CPU library and the
 * CUDA library (build.ts compiles this file into both). */
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
