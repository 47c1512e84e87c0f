/* Runtime support: aligned memory, threads, fill and copy. */
#define _POSIX_C_SOURCE 200809L

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Lets the TypeScript side check it loaded the build it expects. */
int adv_real_size(void) { return (int)sizeof(real); }

/* 64-byte alignment keeps every tensor on cache-line and AVX-512 boundaries.
 * The memory is not zeroed. A request of 0 bytes still returns a valid
 * (minimal) block so callers can free it like any other. */
void *adv_alloc(int64_t bytes) {
  if (adv_check_alloc(__func__, bytes)) return NULL;
  void *p = NULL;
  size_t size = bytes == 0 ? 64 : (size_t)bytes;
  if (posix_memalign(&p, 64, size) != 0) {
    adv_fail(__func__, "out of memory allocating %lld bytes", (long long)bytes);
    return NULL;
  }
  return p;
}

void adv_free(void *p) { free(p); }

/* Both pools get the same count so GEMM and our own loops agree on how much
 * of the machine to use. OpenMP's setting applies to the calling thread. */
int adv_set_num_threads(int n) {
  if (adv_check_set_num_threads(__func__, n)) return 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  return 0;
}

int adv_get_num_threads(void) { return omp_get_max_threads(); }

int adv_fill(real *x, int n, real value) {
  if (adv_check_fill(__func__, x, n)) return 1;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) x[i] = value;
  return 0;
}

/* dst and src must be the same buffer or not overlap at all. */
int adv_copy(real *dst, const real *src, int n) {
  if (adv_check_copy(__func__, dst, src, n)) return 1;
  if (dst == src) return 0;
  real *restrict d = dst;
  const real *restrict s = src;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int i = 0; i < n; i++) d[i] = s[i];
  return 0;
}
