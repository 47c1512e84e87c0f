/*
 * Counter-based random numbers and dropout on the GPU, the twins of
 * native/rng.c. Philox4x32-10 (Random123 constants) is ported word for word,
 * so every call draws the CPU's uint32 stream: element i comes from counter
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

#include <cmath>

#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The four 32-bit words of counter (block, 0) under the 64-bit key. */
static __device__ inline void philox(uint64_t block, uint64_t seed,
                                     uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* Top 24 bits as a multiple of 2^-24 (exact in double). */
static __device__ inline double unit_co(uint32_t u) { /* [0, 1) */
  return (double)(u >> 8) * 0x1p-24;
}
static __device__ inline double unit_oc(uint32_t u) { /* (0, 1]: safe for log */
  return (double)((u >> 8) + 1) * 0x1p-24;
}

/* ---- uniform ---- */

/* out[i] = lo + span u_i, clamped below hi (lo + span u can round up to hi
 * in float; `below` is the largest real under hi). */
static __global__ void rand_uniform_kernel(real *out, int64_t n, double lo,
                                           double span, real hi, real below,
                                           uint64_t seed, uint64_t offset) {
  int64_t blocks = (n + 3) / 4;
  ADV_FOR(b, blocks) {
    uint32_t w[4];
    philox(offset + (uint64_t)b, seed, w);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int64_t i = 4 * b + j;
      if (i < n) {
        real v = (real)__dadd_rn(lo, __dmul_rn(span, unit_co(w[j])));
        out[i] = v < hi ? v : below;
      }
    }
  }
}

ADV_API int adv_rand_uniform(real *out, int n, real lo, real hi, uint64_t seed,
                             uint64_t offset) {
  ADV_REQUIRE_CUDA();
  ADV_CHECK_PTR(out);
  ADV_CHECK_POS(n);
  ADV_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi,
            "need finite lo <= hi, got lo = %g, hi = %g", (double)lo,
            (double)hi);
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
    philox(offset + (uint64_t)b, seed, w);
#pragma unroll
    for (int p = 0; p < 2; p++) {
      double r = sqrt(-2.0 * log(unit_oc(w[2 * p])));
      double t = two_pi * unit_co(w[2 * p + 1]);
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
  ADV_CHECK_PTR(out);
  ADV_CHECK_POS(n);
  ADV_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
            "need finite mean and std >= 0, got mean = %g, std = %g",
            (double)mean, (double)stddev);
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
    philox(offset + (uint64_t)b, seed, w);
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
  ADV_CHECK_PTR(x);
  ADV_CHECK_PTR(y);
  ADV_CHECK_PTR(mask);
  ADV_CHECK_POS(n);
  ADV_CHECK(p >= 0 && p < 1, "argument 'p' must be in [0, 1), got %g",
            (double)p);
  real scale = (real)(1.0 / (1.0 - (double)p));
  uint32_t thresh = (uint32_t)ceil((double)p * 0x1p24); /* <= 2^24 */
  int64_t blocks = ((int64_t)n + 3) / 4;
  dropout_forward_kernel<<<adv_grid(blocks), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, y, mask, n, thresh, scale, seed, offset);
  return adv_cuda_launched(__func__);
}
