/*
 * Counter-based random numbers and dropout on the GPU, the twins of
 * native/rng.c. Philox4x32-10 is the C code's own (native/hostdevice.h), so
 * every call draws the CPU's uint32 stream: element i comes from counter
 * block offset + i / 4, word i % 4, under key = seed. One thread computes one
 * counter block, i.e. four elements.
 *
 * The maps to reals run in double as in the C code, with __dmul_rn and
 * __dadd_rn where nvcc would otherwise fuse a multiply-add that the CPU
 * rounds twice: uniforms and dropout masks match the CPU bit for bit.
 * Normals go through CUDA's double log, sin and cos, which may differ from
 * glibc's in the last bit of a double; after rounding to float that is
 * almost never visible.
 */
#include <math.h>

#include "common.cuh"
#include "hostdevice.h"

/* ---- uniform ---- */

/* out[i] = lo + span u_i, clamped below hi (lo + span u can round up to hi
 * in float; `below` is the largest real under hi). */
static __global__ void rand_uniform_kernel(real *out, int64_t n, double lo,
                                           double span, real hi, real below,
                                           uint64_t seed, uint64_t offset) {
  int64_t blocks = (n + 3) / 4;
  ADV_FOR(b, blocks) {
    uint32_t w[4];
    adv_philox(offset + (uint64_t)b, seed, w);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int64_t i = 4 * b + j;
      if (i < n) {
        real v = (real)__dadd_rn(lo, __dmul_rn(span, adv_unit_co(w[j])));
        out[i] = v < hi ? v : below;
      }
    }
  }
}

ADV_API int adv_rand_uniform(real *out, int n, real lo, real hi, uint64_t seed,
                             uint64_t offset) {
  ADV_REQUIRE_CUDA();
  if (adv_check_rand_uniform(__func__, out, n, lo, hi)) return 1;
  double span = (double)hi - (double)lo;
  real below = nextafterf(hi, lo);
  int64_t blocks = ((int64_t)n + 3) / 4;
  rand_uniform_kernel<<<adv_grid(blocks), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      out, n, (double)lo, span, hi, below, seed, offset);
  return adv_cuda_launched(__func__);
}

/* ---- normal ---- */

/* Box-Muller: words (0, 1) of a block give elements 4b and 4b+1, words
 * (2, 3) give 4b+2 and 4b+3; out = mean + stddev z. */
static __global__ void rand_normal_kernel(real *out, int64_t n, double mean,
                                          double stddev, uint64_t seed,
                                          uint64_t offset) {
  const double two_pi = 6.283185307179586476925286766559;
  int64_t blocks = (n + 3) / 4;
  ADV_FOR(b, blocks) {
    uint32_t w[4];
    adv_philox(offset + (uint64_t)b, seed, w);
#pragma unroll
    for (int p = 0; p < 2; p++) {
      double r = sqrt(-2.0 * log(adv_unit_oc(w[2 * p])));
      double t = two_pi * adv_unit_co(w[2 * p + 1]);
      int64_t i = 4 * b + 2 * p;
      if (i < n)
        out[i] = (real)__dadd_rn(mean, __dmul_rn(stddev, __dmul_rn(r, cos(t))));
      if (i + 1 < n)
        out[i + 1] =
            (real)__dadd_rn(mean, __dmul_rn(stddev, __dmul_rn(r, sin(t))));
    }
  }
}

ADV_API int adv_rand_normal(real *out, int n, real mean, real stddev,
                            uint64_t seed, uint64_t offset) {
  ADV_REQUIRE_CUDA();
  if (adv_check_rand_normal(__func__, out, n, mean, stddev)) return 1;
  int64_t blocks = ((int64_t)n + 3) / 4;
  rand_normal_kernel<<<adv_grid(blocks), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      out, n, (double)mean, (double)stddev, seed, offset);
  return adv_cuda_launched(__func__);
}

/* ---- dropout ---- */

/* mask[i] = scale (u_i >= p), y = x mask. u >= p is tested exactly on the
 * 24-bit integer (k 2^-24 >= p iff k >= thresh = ceil(p 2^24)). x may equal
 * y: a thread reads and writes only its own elements. */
static __global__ void dropout_forward_kernel(const real *x, real *y,
                                              real *mask, int64_t n,
                                              uint32_t thresh, real scale,
                                              uint64_t seed, uint64_t offset) {
  int64_t blocks = (n + 3) / 4;
  ADV_FOR(b, blocks) {
    uint32_t w[4];
    adv_philox(offset + (uint64_t)b, seed, w);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int64_t i = 4 * b + j;
      if (i < n) {
        real m = scale * (real)((w[j] >> 8) >= thresh);
        mask[i] = m;
        y[i] = x[i] * m;
      }
    }
  }
}

/* Inverted dropout: the expected value of y is x, so inference needs no
 * rescaling; the mask is kept for the backward pass, dx = dy * mask. */
ADV_API int adv_dropout_forward(const real *x, real *y, real *mask, int n,
                                real p, uint64_t seed, uint64_t offset) {
  ADV_REQUIRE_CUDA();
  if (adv_check_dropout_forward(__func__, x, y, mask, n, p)) return 1;
  real scale = (real)(1.0 / (1.0 - (double)p));
  uint32_t thresh = (uint32_t)ceil((double)p * 0x1p24); /* <= 2^24 */
  int64_t blocks = ((int64_t)n + 3) / 4;
  dropout_forward_kernel<<<adv_grid(blocks), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, y, mask, n, thresh, scale, seed, offset);
  return adv_cuda_launched(__func__);
}
