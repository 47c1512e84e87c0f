/* Counter-based random numbers: Philox4x32-10 from native/hostdevice.h,
 * which kernels/rng.cu shares, so both libraries draw the same bits. Element
 * i of a call comes from counter block offset + i / 4, word i % 4, under
 * key = seed: any element can be computed on its own, so results do not
 * depend on threads, and a caller that advances offset by ceil(n / 4) after
 * each call never reuses a number. */
#include <math.h>

#include "common.h"
#include "hostdevice.h"
#include "realmath.h"

/* Each kernel computes four results per block with a *_block function; the
 * parallel loop covers the whole blocks, and a partial last block is
 * finished on its own so the hot loop has no per-element bounds test. */

static inline void uniform_block(uint64_t block, uint64_t seed, double lo,
                                 double span, real hi, real below, real r[4]) {
  uint32_t w[4];
  adv_philox(block, seed, w);
  for (int j = 0; j < 4; j++) {
    real v = (real)(lo + span * adv_unit_co(w[j]));
    r[j] = v < hi ? v : below;
  }
}

/* out[i] uniform in [lo, hi). */
int adv_rand_uniform(real *out, int n, real lo, real hi, uint64_t seed,
                     uint64_t offset) {
  if (adv_check_rand_uniform(__func__, out, n, lo, hi)) return 1;
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
  adv_philox(block, seed, w);
  for (int p = 0; p < 2; p++) {
    double r = sqrt(-2.0 * log(adv_unit_oc(w[2 * p])));
    double t = two_pi * adv_unit_co(w[2 * p + 1]);
    z[2 * p] = (real)(mean + std * (r * cos(t)));
    z[2 * p + 1] = (real)(mean + std * (r * sin(t)));
  }
}

/* out[i] = mean + std * z_i, z_i standard normal. */
int adv_rand_normal(real *out, int n, real mean, real std, uint64_t seed,
                    uint64_t offset) {
  if (adv_check_rand_normal(__func__, out, n, mean, std)) return 1;
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
  adv_philox(block, seed, w);
  for (int j = 0; j < 4; j++) m[j] = scale * (real)((w[j] >> 8) >= thresh);
}

/* mask[i] = (u_i >= p) / (1 - p), y = x * mask (inverted dropout: the
 * expected value of y is x, so inference needs no rescaling). The mask is
 * kept for the backward pass, dx = dy * mask. x may equal y. */
int adv_dropout_forward(const real *x, real *y, real *mask, int n, real p,
                        uint64_t seed, uint64_t offset) {
  if (adv_check_dropout_forward(__func__, x, y, mask, n, p)) return 1;
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
