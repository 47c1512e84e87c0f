/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, with the
 * Random123 constants). Element i of a call comes from counter block
 * offset + i / 4, word i % 4, under key = seed: any element can be computed
 * on its own, so results do not depend on threads, and a caller that
 * advances offset by ceil(n / 4) after each call never reuses a number. */
#include <math.h>

#include "common.h"
#include "realmath.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The four 32-bit words of counter (block, 0) under the 64-bit key. */
static inline void philox(uint64_t block, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
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

/* Top 24 bits as a multiple of 2^-24: exact in float and double alike, so
 * both builds draw the same numbers. */
static inline double unit_co(uint32_t u) { /* [0, 1) */
  return (double)(u >> 8) * 0x1p-24;
}
static inline double unit_oc(uint32_t u) { /* (0, 1]: safe for log */
  return (double)((u >> 8) + 1) * 0x1p-24;
}

/* Each kernel computes four results per block with a *_block function; the
 * parallel loop covers the whole blocks, and a partial last block is
 * finished on its own so the hot loop has no per-element bounds test. */

static inline void uniform_block(uint64_t block, uint64_t seed, double lo,
                                 double span, real hi, real below, real r[4]) {
  uint32_t w[4];
  philox(block, seed, w);
  for (int j = 0; j < 4; j++) {
    real v = (real)(lo + span * unit_co(w[j]));
    r[j] = v < hi ? v : below;
  }
}

/* out[i] uniform in [lo, hi). */
int adv_rand_uniform(real *out, int n, real lo, real hi, uint64_t seed,
                     uint64_t offset) {
  ADV_CHECK_PTR(out);
  ADV_CHECK_POS(n);
  ADV_CHECK(isfinite(lo) && isfinite(hi) && lo <= hi,
            "need finite lo <= hi, got lo = %g, hi = %g", (double)lo,
            (double)hi);
  double span = (double)hi - (double)lo;
  /* lo + span * u can round up to hi in float; the largest real below hi */
  real below = R_NEXTAFTER(hi, lo);
  int64_t full = n / 4;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t b = 0; b < full; b++)
    uniform_block(offset + (uint64_t)b, seed, lo, span, hi, below,
                  out + 4 * b);
  if (n % 4) {
    real r[4];
    uniform_block(offset + (uint64_t)full, seed, lo, span, hi, below, r);
    for (int j = 0; j < n % 4; j++) out[4 * full + j] = r[j];
  }
  return 0;
}

/* Box-Muller: words (0, 1) of a block give elements 4b and 4b+1, words
 * (2, 3) give 4b+2 and 4b+3. */
static inline void normal_block(uint64_t block, uint64_t seed, double mean,
                                double std, real z[4]) {
  const double two_pi = 6.283185307179586476925286766559;
  uint32_t w[4];
  philox(block, seed, w);
  for (int p = 0; p < 2; p++) {
    double r = sqrt(-2.0 * log(unit_oc(w[2 * p])));
    double t = two_pi * unit_co(w[2 * p + 1]);
    z[2 * p] = (real)(mean + std * (r * cos(t)));
    z[2 * p + 1] = (real)(mean + std * (r * sin(t)));
  }
}

/* out[i] = mean + std * z_i, z_i standard normal. */
int adv_rand_normal(real *out, int n, real mean, real std, uint64_t seed,
                    uint64_t offset) {
  ADV_CHECK_PTR(out);
  ADV_CHECK_POS(n);
  ADV_CHECK(isfinite(mean) && isfinite(std) && std >= 0,
            "need finite mean and std >= 0, got mean = %g, std = %g",
            (double)mean, (double)std);
  int64_t full = n / 4;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t b = 0; b < full; b++)
    normal_block(offset + (uint64_t)b, seed, mean, std, out + 4 * b);
  if (n % 4) {
    real z[4];
    normal_block(offset + (uint64_t)full, seed, mean, std, z);
    for (int j = 0; j < n % 4; j++) out[4 * full + j] = z[j];
  }
  return 0;
}

/* u >= p is tested exactly on the 24-bit integer (k 2^-24 >= p iff
 * k >= ceil(p 2^24)) and applied as a multiply, not a branch: with p near
 * 0.5 a branch would be mispredicted half the time. */
static inline void mask_block(uint64_t block, uint64_t seed, uint32_t thresh,
                              real scale, real m[4]) {
  uint32_t w[4];
  philox(block, seed, w);
  for (int j = 0; j < 4; j++) m[j] = scale * (real)((w[j] >> 8) >= thresh);
}

/* mask[i] = (u_i >= p) / (1 - p), y = x * mask (inverted dropout: the
 * expected value of y is x, so inference needs no rescaling). The mask is
 * kept for the backward pass, dx = dy * mask. x may equal y. */
int adv_dropout_forward(const real *x, real *y, real *mask, int n, real p,
                        uint64_t seed, uint64_t offset) {
  ADV_CHECK_PTR(x);
  ADV_CHECK_PTR(y);
  ADV_CHECK_PTR(mask);
  ADV_CHECK_POS(n);
  ADV_CHECK(p >= 0 && p < 1, "argument 'p' must be in [0, 1), got %g",
            (double)p);
  real scale = (real)(1.0 / (1.0 - (double)p));
  uint32_t thresh = (uint32_t)ceil((double)p * 0x1p24); /* <= 2^24 */
  int64_t full = n / 4;
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
  for (int64_t b = 0; b < full; b++) {
    real m[4];
    mask_block(offset + (uint64_t)b, seed, thresh, scale, m);
    for (int j = 0; j < 4; j++) {
      mask[4 * b + j] = m[j];
      y[4 * b + j] = x[4 * b + j] * m[j];
    }
  }
  if (n % 4) {
    real m[4];
    mask_block(offset + (uint64_t)full, seed, thresh, scale, m);
    for (int j = 0; j < n % 4; j++) {
      mask[4 * full + j] = m[j];
      y[4 * full + j] = x[4 * full + j] * m[j];
    }
  }
  return 0;
}
