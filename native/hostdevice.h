/* Code that must compute the same in the C kernels (native/, C11) and the
 * CUDA ones (kernels/, nvcc): the Philox4x32-10 generator, whose bits the CPU
 * and CUDA libraries must share, and the index arithmetic of broadcasting.
 * Only integer arithmetic and exact conversions, so every compiler gives the
 * same results. */
#ifndef ADVSSL_HOSTDEVICE_H
#define ADVSSL_HOSTDEVICE_H

#include <stdint.h>

/* nvcc compiles these for the host and the device; a C compiler (and the
 * CUDA emulator, g++ without __CUDACC__) sees plain functions. */
#ifdef __CUDACC__
#define ADV_HOST_DEVICE __host__ __device__
#else
#define ADV_HOST_DEVICE
#endif
/* unrolling for the device pass only: the host compiler warns on the pragma */
#ifdef __CUDA_ARCH__
#define ADV_UNROLL _Pragma("unroll")
#else
#define ADV_UNROLL
#endif

/* ---- Philox4x32-10 (Salmon et al. 2011, the Random123 constants) ---- */

#define ADV_PHILOX_M0 0xD2511F53u
#define ADV_PHILOX_M1 0xCD9E8D57u
#define ADV_PHILOX_W0 0x9E3779B9u
#define ADV_PHILOX_W1 0xBB67AE85u

/* The four 32-bit words of counter (block, 0) under the 64-bit key. */
static ADV_HOST_DEVICE inline void adv_philox(uint64_t block, uint64_t seed,
                                              uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  ADV_UNROLL
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += ADV_PHILOX_W0;
      k1 += ADV_PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)ADV_PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)ADV_PHILOX_M1 * c2;
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
 * every build draws the same numbers. */
static ADV_HOST_DEVICE inline double adv_unit_co(uint32_t u) { /* [0, 1) */
  return (double)(u >> 8) * 0x1p-24;
}
static ADV_HOST_DEVICE inline double adv_unit_oc(uint32_t u) { /* (0, 1] */
  return (double)((u >> 8) + 1) * 0x1p-24; /* never 0: safe for log */
}

/* ---- broadcasting: shapes and two operands' strides, in elements ---- */

/* Drops size-1 dimensions and merges each dimension into its inner
 * neighbour wherever both operands' strides allow, so the innermost loop is
 * as long as possible (e.g. (n, c, h, w) + (c, 1, 1) becomes (n, c, h*w)).
 * Returns the new number of dimensions, at least 1. Host only. */
static inline int adv_coalesce(int ndim, int64_t *shape, int64_t *s1,
                               int64_t *s2) {
  int nd = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (nd > 0 && s1[nd - 1] == s1[d] * shape[d] &&
        s2[nd - 1] == s2[d] * shape[d]) {
      shape[nd - 1] *= shape[d];
      s1[nd - 1] = s1[d];
      s2[nd - 1] = s2[d];
      continue;
    }
    shape[nd] = shape[d];
    s1[nd] = s1[d];
    s2[nd] = s2[d];
    nd++;
  }
  if (nd == 0) {
    shape[0] = 1;
    s1[0] = s2[0] = 0;
    nd = 1;
  }
  return nd;
}

/* The dimensions of adv_broadcast_binary: out's shape and a's and b's
 * strides widened and coalesced. Returns their number; *total gets out's
 * element count. Host only. */
static inline int adv_broadcast_dims(int ndim, const int *out_shape,
                                     const int *a_strides,
                                     const int *b_strides, int64_t *shape,
                                     int64_t *s1, int64_t *s2,
                                     int64_t *total) {
  int64_t t = 1;
  for (int d = 0; d < ndim; d++) {
    shape[d] = out_shape[d];
    s1[d] = a_strides[d];
    s2[d] = b_strides[d];
    t *= shape[d];
  }
  *total = t;
  return adv_coalesce(ndim, shape, s1, s2);
}

/* The dimensions of adv_sum_to: in's shape with out's strides (os) and in's
 * own, dense ones (is), coalesced. Returns their number; *total, unless
 * NULL, gets in's element count. Host only. */
static inline int adv_sum_to_dims(int ndim, const int *in_shape,
                                  const int *out_strides, int64_t *shape,
                                  int64_t *os, int64_t *is, int64_t *total) {
  int64_t t = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    shape[d] = in_shape[d];
    os[d] = out_strides[d];
    is[d] = t;
    t *= shape[d];
  }
  if (total) *total = t;
  return adv_coalesce(ndim, shape, os, is);
}

/* Offsets into the two operands of the element with row-major linear index
 * lin over the first nd dimensions. */
static ADV_HOST_DEVICE inline void adv_offsets_of(int64_t lin, int nd,
                                                  const int64_t *shape,
                                                  const int64_t *s1,
                                                  const int64_t *s2,
                                                  int64_t *o1, int64_t *o2) {
  int64_t a = 0, b = 0;
  for (int d = nd - 1; d >= 0; d--) {
    int64_t i = lin % shape[d];
    lin /= shape[d];
    a += i * s1[d];
    b += i * s2[d];
  }
  *o1 = a;
  *o2 = b;
}

#endif
