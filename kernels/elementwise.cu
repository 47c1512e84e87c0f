/*
 * Elementwise kernels and reductions on the GPU, the twins of
 * native/elementwise.c (same checks, same messages, same accumulate flags
 * and in-place cases).
 *
 * Reductions are deterministic as on the CPU: no floating-point atomics, and
 * every output is summed by one block (or warp) in an order fixed by the
 * shapes alone, in double like the C code. Full sums (adv_sum, and adv_sum_to
 * when everything is summed) keep the C code's blocking: at most 1024
 * contiguous pieces, one block each, into a fixed device array, then one
 * block adds the partials.
 *
 * Where the C code rounds a product before adding it (a * x + b * y), the
 * product is written with __fmul_rn: nvcc would otherwise fuse it into an FMA
 * and results would differ from the CPU's in the last bit.
 */
#include <math.h>

#include "common.cuh"
#include "hostdevice.h"

#define MAX_DIMS ADV_MAX_DIMS

/* Shapes and two operands' strides (in elements) over up to MAX_DIMS
 * dimensions, handed to kernels by value. */
struct dims {
  int nd;
  int64_t shape[MAX_DIMS], s1[MAX_DIMS], s2[MAX_DIMS];
};

/* Offsets into the two operands of the element with row-major linear index
 * lin over g's dimensions (native/hostdevice.h). */
static __device__ inline void offsets_of(int64_t lin, const dims &g,
                                         int64_t *o1, int64_t *o2) {
  adv_offsets_of(lin, g.nd, g.shape, g.s1, g.s2, o1, o2);
}

/* Sum over a warp in a fixed butterfly order; every lane gets the same total
 * (IEEE addition is commutative, so partner lanes compute identical sums). */
static __device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* ---- full sums: fixed blocking, two stages ---- */

#define MAX_PARTIALS 1024
/* Partial sums of stage one; every kernel runs on the one stream, so a
 * single array serves all calls. */
static __device__ double g_partial[MAX_PARTIALS];

/* Stage one: block b sums x[b * blk, min(n, (b + 1) * blk)). */
static __global__ void sum_partials_kernel(const real *x, int64_t n,
                                           int64_t blk) {
  __shared__ double scratch[32];
  int64_t lo = (int64_t)blockIdx.x * blk;
  int64_t hi = lo + blk < n ? lo + blk : n;
  double acc = 0.0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
    acc += (double)x[i];
  double s = adv_block_sum(acc, scratch);
  if (threadIdx.x == 0) g_partial[blockIdx.x] = s;
}

/* Stage two, one block: out[0] (+)= scale * (sum of the nb partials). */
static __global__ void sum_finish_kernel(real *out, int nb, double scale,
                                         int accumulate) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int b = threadIdx.x; b < nb; b += blockDim.x) acc += g_partial[b];
  double s = adv_block_sum(acc, scratch);
  if (threadIdx.x == 0) {
    double v = scale * s;
    out[0] = (real)(accumulate ? (double)out[0] + v : v);
  }
}

/* out[0] (+)= scale * sum(x[0, n)), with the C code's sum_blocks blocking
 * (pieces of a size that depends only on n, at most 1024 of them). */
static void launch_full_sum(real *out, const real *x, int64_t n, double scale,
                            int accumulate) {
  int64_t blk = 8192;
  while ((n + blk - 1) / blk > MAX_PARTIALS) blk *= 2;
  int nb = (int)((n + blk - 1) / blk);
  sum_partials_kernel<<<nb, ADV_BLOCK, 0, adv_cuda_stream()>>>(x, n, blk);
  sum_finish_kernel<<<1, ADV_BLOCK, 0, adv_cuda_stream()>>>(out, nb, scale,
                                                            accumulate);
}

/* ---- bias ---- */

/* y = x + b[channel], one thread per element; x may equal y (each thread
 * reads and writes only its own element). */
static __global__ void bias_add_kernel(real *y, const real *x, const real *b,
                                       int64_t total, int c, int s) {
  ADV_FOR(i, total) y[i] = x[i] + b[(i / s) % c];
}

ADV_API int adv_bias_add(real *y, const real *x, const real *b, int n, int c,
                         int s) {
  ADV_REQUIRE_CUDA();
  if (adv_check_bias_add(__func__, y, x, b, n, c, s)) return 1;
  int64_t total = (int64_t)n * c * s;
  bias_add_kernel<<<adv_grid(total), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      y, x, b, total, c, s);
  return adv_cuda_launched(__func__);
}

/* Column sums of the (n, c) matrix (s == 1): a block owns 32 adjacent
 * columns, so rows are read in coalesced pieces; each of its 16 thread rows
 * sums a contiguous range of rows, and the 16 partials are added in order. */
#define COLS 32
#define ROW_GROUPS 16
static __global__ void bias_grad_cols_kernel(real *db, const real *dy, int n,
                                             int c, int accumulate) {
  __shared__ double part[ROW_GROUPS][COLS];
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t j = (int64_t)blockIdx.x * COLS + tx;
  int64_t per = ((int64_t)n + ROW_GROUPS - 1) / ROW_GROUPS;
  int64_t i0 = ty * per, i1 = i0 + per < n ? i0 + per : n;
  double acc = 0.0;
  if (j < c)
    for (int64_t i = i0; i < i1; i++) acc += (double)dy[i * c + j];
  part[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && j < c) {
    double s = 0.0;
    for (int t = 0; t < ROW_GROUPS; t++) s += part[t][tx];
    db[j] = (real)((accumulate ? (double)db[j] : 0.0) + s);
  }
}

/* Channel sums of (n, c, s), s > 1: one block per channel; each warp takes
 * whole rows of s values (rows warp, warp + warps, ...), its lanes reading
 * along the row, then one block sum. */
#define BIAS_GRAD_THREADS 512
static __global__ void bias_grad_rows_kernel(real *db, const real *dy, int n,
                                             int c, int s, int accumulate) {
  __shared__ double scratch[32];
  int64_t j = blockIdx.x;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int warps = blockDim.x >> 5;
  double acc = 0.0;
  for (int64_t i = warp; i < n; i += warps) {
    const real *row = dy + (i * c + j) * s;
    for (int t = lane; t < s; t += 32) acc += (double)row[t];
  }
  double sum = adv_block_sum(acc, scratch);
  if (threadIdx.x == 0)
    db[j] = (real)((accumulate ? (double)db[j] : 0.0) + sum);
}

ADV_API int adv_bias_grad(real *db, const real *dy, int n, int c, int s,
                          int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_bias_grad(__func__, db, dy, n, c, s)) return 1;
  if (s == 1) {
    dim3 block(COLS, ROW_GROUPS);
    int grid = (int)(((int64_t)c + COLS - 1) / COLS);
    bias_grad_cols_kernel<<<grid, block, 0, adv_cuda_stream()>>>(db, dy, n, c,
                                                                 accumulate);
  } else {
    bias_grad_rows_kernel<<<c, BIAS_GRAD_THREADS, 0, adv_cuda_stream()>>>(
        db, dy, n, c, s, accumulate);
  }
  return adv_cuda_launched(__func__);
}

/* ---- simple elementwise ---- */

/* y = a x + b y; x may equal y. b == 0 does not read y (as BLAS's beta), so
 * y may start uninitialised. */
static __global__ void axpby_kernel(real *y, real a, const real *x, real b,
                                    int64_t n) {
  if (b == 0) {
    ADV_FOR(i, n) y[i] = a * x[i];
  } else {
    ADV_FOR(i, n) y[i] = __fmul_rn(a, x[i]) + __fmul_rn(b, y[i]);
  }
}

ADV_API int adv_axpby(real *y, real a, const real *x, real b, int n) {
  ADV_REQUIRE_CUDA();
  if (adv_check_axpby(__func__, y, x, n)) return 1;
  axpby_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(y, a, x, b, n);
  return adv_cuda_launched(__func__);
}

/* y = a x + c; x may equal y. */
static __global__ void affine_kernel(real *y, const real *x, real a, real c,
                                     int64_t n) {
  ADV_FOR(i, n) y[i] = __fmul_rn(a, x[i]) + c;
}

ADV_API int adv_affine(real *y, const real *x, real a, real c, int n) {
  ADV_REQUIRE_CUDA();
  if (adv_check_affine(__func__, y, x, n)) return 1;
  affine_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(y, x, a, c,
                                                                  n);
  return adv_cuda_launched(__func__);
}

/* out (+)= a b; out may equal a or b. */
static __global__ void mul_kernel(real *out, const real *a, const real *b,
                                  int64_t n, int accumulate) {
  if (accumulate) {
    ADV_FOR(i, n) out[i] += __fmul_rn(a[i], b[i]);
  } else {
    ADV_FOR(i, n) out[i] = a[i] * b[i];
  }
}

ADV_API int adv_mul(real *out, const real *a, const real *b, int n,
                    int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_mul(__func__, out, a, b, n)) return 1;
  mul_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(out, a, b, n,
                                                               accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- broadcasting ---- */

/* out = a op b, one thread per (dense) output element, operand offsets from
 * the coalesced strides. out may equal a or b when that operand has out's
 * shape: a thread then reads exactly the element it writes. */
static __global__ void broadcast_binary_kernel(int op, real *out, const real *a,
                                               const real *b, dims g,
                                               int64_t total) {
  ADV_FOR(i, total) {
    int64_t oa, ob;
    offsets_of(i, g, &oa, &ob);
    real u = a[oa], v = b[ob];
    out[i] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v;
  }
}

ADV_API int adv_broadcast_binary(int op, real *out, const int *out_shape,
                                 int ndim, const real *a, const int *a_strides,
                                 const real *b, const int *b_strides) {
  ADV_REQUIRE_CUDA();
  if (adv_check_broadcast_binary(__func__, op, out, out_shape, ndim, a,
                                 a_strides, b, b_strides))
    return 1;
  dims g = {};
  int64_t total;
  g.nd = adv_broadcast_dims(ndim, out_shape, a_strides, b_strides, g.shape,
                            g.s1, g.s2, &total);
  broadcast_binary_kernel<<<adv_grid(total), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      op, out, a, b, g, total);
  return adv_cuda_launched(__func__);
}

/* ---- sum_to: the backward of a broadcast ----
 * After coalescing, the outer dimensions split into kept ones (out stride
 * != 0; s1 = out stride, s2 = in stride) and summed ones (s1 = in stride);
 * the innermost dimension (len elements, in stride 1) is either kept
 * (os_in != 0) or summed. */

/* Innermost dimension kept: the nkeep * len outputs, flattened, go 32 to a
 * block along threadIdx.x (adjacent outputs read adjacent inputs); the
 * summed positions r in [0, nred) split into 16 contiguous ranges along
 * threadIdx.y, each walked with an odometer (no division per step), and the
 * 16 partials are added in order. */
static __global__ void sum_to_inner_kept_kernel(real *out, const real *in,
                                                dims kept, dims red,
                                                int64_t nred, int64_t len,
                                                int64_t os_in, int64_t nout,
                                                int accumulate) {
  __shared__ double part[ROW_GROUPS][COLS];
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t per = (nred + ROW_GROUPS - 1) / ROW_GROUPS;
  int64_t r0 = ty * per, r1 = r0 + per < nred ? r0 + per : nred;
  for (int64_t q0 = (int64_t)blockIdx.x * COLS; q0 < nout;
       q0 += (int64_t)gridDim.x * COLS) { /* block-uniform: syncs are safe */
    int64_t q = q0 + tx, ob = 0, ib = 0;
    double acc = 0.0;
    if (q < nout) {
      int64_t k = q / len, j = q - k * len;
      offsets_of(k, kept, &ob, &ib);
      ob += j * os_in;
      ib += j;
    }
    if (q < nout && r0 < r1) {
      /* odometer over the summed dimensions, started at r0 */
      int64_t idx[MAX_DIMS], off = 0, lin = r0;
      for (int d = red.nd - 1; d >= 0; d--) {
        idx[d] = lin % red.shape[d];
        lin /= red.shape[d];
        off += idx[d] * red.s1[d];
      }
      for (int64_t r = r0; r < r1; r++) {
        acc += (double)in[ib + off];
        for (int d = red.nd - 1; d >= 0; d--) {
          off += red.s1[d];
          if (++idx[d] < red.shape[d]) break;
          off -= red.s1[d] * red.shape[d];
          idx[d] = 0;
        }
      }
    }
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && q < nout) {
      double s = 0.0;
      for (int t = 0; t < ROW_GROUPS; t++) s += part[t][tx];
      out[ob] = (real)((accumulate ? (double)out[ob] : 0.0) + s);
    }
    __syncthreads(); /* part is rewritten by the next iteration */
  }
}

/* Innermost dimension summed: one block per output (grid-stride over the
 * nkeep outputs), its threads walking the nred runs of len inputs as one
 * flat range, then one block sum. */
static __global__ void sum_to_inner_summed_kernel(real *out, const real *in,
                                                  dims kept, dims red,
                                                  int64_t nkeep, int64_t nred,
                                                  int64_t len, int accumulate) {
  __shared__ double scratch[32];
  int64_t m = nred * len;
  for (int64_t k = blockIdx.x; k < nkeep; k += gridDim.x) {
    int64_t ob, ib;
    offsets_of(k, kept, &ob, &ib);
    double acc = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
      int64_t r = e / len, j = e - r * len, off, unused;
      offsets_of(r, red, &off, &unused);
      acc += (double)in[ib + off + j];
    }
    double s = adv_block_sum(acc, scratch); /* syncs before reusing scratch */
    if (threadIdx.x == 0)
      out[ob] = (real)((accumulate ? (double)out[ob] : 0.0) + s);
  }
}

ADV_API int adv_sum_to(real *out, const int *out_strides, const real *in,
                       const int *in_shape, int ndim, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_sum_to(__func__, out, out_strides, in, in_shape, ndim))
    return 1;
  int64_t shape[MAX_DIMS], os[MAX_DIMS], is[MAX_DIMS];
  int nd = adv_sum_to_dims(ndim, in_shape, out_strides, shape, os, is, NULL);

  /* split the outer dimensions into kept (out stride != 0) and summed */
  dims kept = {}, red = {};
  int64_t nkeep = 1, nred = 1;
  for (int d = 0; d < nd - 1; d++) {
    if (os[d] != 0) {
      kept.shape[kept.nd] = shape[d];
      kept.s1[kept.nd] = os[d];
      kept.s2[kept.nd++] = is[d];
      nkeep *= shape[d];
    } else {
      red.shape[red.nd] = shape[d];
      red.s1[red.nd] = is[d];
      red.s2[red.nd++] = 0;
      nred *= shape[d];
    }
  }
  int64_t len = shape[nd - 1], os_in = os[nd - 1];

  if (os_in != 0) {
    int64_t nout = nkeep * len, chunks = (nout + COLS - 1) / COLS;
    int grid = chunks > 65536 ? 65536 : (int)chunks;
    dim3 block(COLS, ROW_GROUPS);
    sum_to_inner_kept_kernel<<<grid, block, 0, adv_cuda_stream()>>>(
        out, in, kept, red, nred, len, os_in, nout, accumulate);
  } else if (nkeep == 1 && nred == 1) { /* everything summed: one vector */
    launch_full_sum(out, in, len, 1.0, accumulate);
  } else {
    int grid = nkeep > 65536 ? 65536 : (int)nkeep;
    sum_to_inner_summed_kernel<<<grid, ADV_BLOCK, 0, adv_cuda_stream()>>>(
        out, in, kept, red, nkeep, nred, len, accumulate);
  }
  return adv_cuda_launched(__func__);
}

/* ---- full sums ---- */

/* out[0] = scale * sum(x). */
ADV_API int adv_sum(real *out, const real *x, int n, real scale) {
  ADV_REQUIRE_CUDA();
  if (adv_check_sum(__func__, out, x, n)) return 1;
  launch_full_sum(out, x, n, (double)scale, 0);
  return adv_cuda_launched(__func__);
}

/* dx (+)= scale g[0]: the backward of sum and mean (g is a device scalar,
 * read by every thread). */
static __global__ void fill_from_scalar_kernel(real *dx, const real *g,
                                               real scale, int64_t n,
                                               int accumulate) {
  real v = __fmul_rn(scale, g[0]);
  if (accumulate) {
    ADV_FOR(i, n) dx[i] += v;
  } else {
    ADV_FOR(i, n) dx[i] = v;
  }
}

ADV_API int adv_fill_from_scalar(real *dx, const real *g, real scale, int n,
                                 int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_fill_from_scalar(__func__, dx, g, n)) return 1;
  fill_from_scalar_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      dx, g, scale, n, accumulate);
  return adv_cuda_launched(__func__);
}

/* dst[r * dst_stride + j] (+)= src[r * src_stride + j]: one thread per
 * copied element. dst and src must not overlap. */
static __global__ void copy_rows_kernel(real *__restrict__ dst, int dst_stride,
                                        const real *__restrict__ src,
                                        int src_stride, int64_t total, int len,
                                        int accumulate) {
  ADV_FOR(e, total) {
    int64_t r = e / len, j = e - r * len;
    real v = src[r * src_stride + j];
    if (accumulate)
      dst[r * dst_stride + j] += v;
    else
      dst[r * dst_stride + j] = v;
  }
}

ADV_API int adv_copy_rows(real *dst, int dst_stride, const real *src,
                          int src_stride, int rows, int len, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_copy_rows(__func__, dst, dst_stride, src, src_stride, rows,
                          len))
    return 1;
  int64_t total = (int64_t)rows * len;
  copy_rows_kernel<<<adv_grid(total), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      dst, dst_stride, src, src_stride, total, len, accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- activations ---- */

/* kind: 0 relu, 1 leaky relu, 2 sigmoid, 3 tanh; x may equal y. relu passes
 * NaN through (x < 0 is false for NaN). Sigmoid uses exp(-|x|), which never
 * overflows: for x < 0, sigmoid(x) = e / (1 + e). */
static __global__ void act_forward_kernel(int kind, real slope, const real *x,
                                          real *y, int64_t n) {
  ADV_FOR(i, n) {
    real v = x[i];
    if (kind == 0) {
      y[i] = v < 0 ? (real)0 : v;
    } else if (kind == 1) {
      y[i] = v < 0 ? slope * v : v;
    } else if (kind == 2) {
      real e = expf(-fabsf(v));
      real s = 1 / (1 + e);
      y[i] = v >= 0 ? s : e * s;
    } else {
      y[i] = tanhf(v);
    }
  }
}

ADV_API int adv_act_forward(int kind, real slope, const real *x, real *y,
                            int n) {
  ADV_REQUIRE_CUDA();
  if (adv_check_act_forward(__func__, kind, x, y, n)) return 1;
  act_forward_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      kind, slope, x, y, n);
  return adv_cuda_launched(__func__);
}

/* dx (+)= dy f'(.). relu and leaky relu read x (y may be NULL); sigmoid and
 * tanh read y (x may be NULL). dx may equal dy. Without accumulate dx is
 * never read: it may hold garbage. */
static __global__ void act_backward_kernel(int kind, real slope, const real *x,
                                           const real *y, const real *dy,
                                           real *dx, int64_t n,
                                           int accumulate) {
  ADV_FOR(i, n) {
    real g = dy[i], d;
    if (kind == 0) {
      d = x[i] > 0 ? g : (real)0;
    } else if (kind == 1) {
      d = x[i] > 0 ? g : __fmul_rn(slope, g);
    } else if (kind == 2) {
      real v = y[i];
      d = __fmul_rn(g * v, 1 - v);
    } else {
      real v = y[i];
      d = __fmul_rn(g, 1 - __fmul_rn(v, v));
    }
    if (accumulate)
      dx[i] += d;
    else
      dx[i] = d;
  }
}

ADV_API int adv_act_backward(int kind, real slope, const real *x, const real *y,
                             const real *dy, real *dx, int n, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_act_backward(__func__, kind, x, y, dy, dx, n)) return 1;
  act_backward_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      kind, slope, x, y, dy, dx, n, accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- row L2 normalisation: one warp per row ---- */

#define ROWS_PER_BLOCK (ADV_BLOCK / 32)

static int warp_rows_grid(int n) {
  int64_t blocks = ((int64_t)n + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
  return blocks > 65536 ? 65536 : (int)blocks;
}

/* y = x / sqrt(eps + |x|^2) per row, |x|^2 summed in double by the warp.
 * x may equal y: a lane writes only the elements it read, after the whole
 * row has been read. */
static __global__ void l2norm_forward_kernel(const real *x, real *y, int n,
                                             int d, double eps) {
  int lane = threadIdx.x & 31;
  int64_t warps = blockDim.x >> 5;
  for (int64_t i = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5); i < n;
       i += (int64_t)gridDim.x * warps) { /* warp-uniform: shuffles are safe */
    const real *xi = x + i * d;
    real *yi = y + i * d;
    double ss = 0.0;
    for (int j = lane; j < d; j += 32) ss += (double)xi[j] * xi[j];
    ss = warp_sum(ss);
    real inv = (real)(1.0 / sqrt(eps + ss));
    for (int j = lane; j < d; j += 32) yi[j] = xi[j] * inv;
  }
}

ADV_API int adv_l2norm_forward(const real *x, real *y, int n, int d, real eps) {
  ADV_REQUIRE_CUDA();
  if (adv_check_l2norm_forward(__func__, x, y, n, d, eps)) return 1;
  l2norm_forward_kernel<<<warp_rows_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, y, n, d, (double)eps);
  return adv_cuda_launched(__func__);
}

/* With r = sqrt(eps + |x|^2): dx (+)= dy / r - x (x . dy) / r^3, both dot
 * products in double by the warp (r recomputed from x, as the C code). */
static __global__ void l2norm_backward_kernel(const real *x, const real *dy,
                                              real *dx, int n, int d,
                                              double eps, int accumulate) {
  int lane = threadIdx.x & 31;
  int64_t warps = blockDim.x >> 5;
  for (int64_t i = (int64_t)blockIdx.x * warps + (threadIdx.x >> 5); i < n;
       i += (int64_t)gridDim.x * warps) {
    const real *xi = x + i * d, *gi = dy + i * d;
    real *dxi = dx + i * d;
    double xx = 0.0, xg = 0.0;
    for (int j = lane; j < d; j += 32) {
      xx += (double)xi[j] * xi[j];
      xg += (double)xi[j] * gi[j];
    }
    xx = warp_sum(xx);
    xg = warp_sum(xg);
    double r = sqrt(eps + xx);
    real a = (real)(1.0 / r), b = (real)(xg / (r * r * r));
    for (int j = lane; j < d; j += 32) {
      real v = __fmul_rn(a, gi[j]) - __fmul_rn(b, xi[j]);
      if (accumulate)
        dxi[j] += v;
      else
        dxi[j] = v;
    }
  }
}

ADV_API int adv_l2norm_backward(const real *x, const real *dy, real *dx, int n,
                                int d, real eps, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_l2norm_backward(__func__, x, dy, dx, n, d, eps)) return 1;
  l2norm_backward_kernel<<<warp_rows_grid(n), ADV_BLOCK, 0,
                           adv_cuda_stream()>>>(x, dy, dx, n, d, (double)eps,
                                                accumulate);
  return adv_cuda_launched(__func__);
}

/* ---- evaluation ---- */

/* Per-block error counts and first invalid rows (stage one), and the
 * outcome of the last adv_count_errors (stage two), read back by the host. */
static __device__ int g_block_errors[MAX_PARTIALS], g_block_bad[MAX_PARTIALS];
struct count_status {
  int bad;    /* first row with an invalid label, n if none */
  real label; /* labels[bad] */
};
static __device__ count_status g_count_status;

/* One thread per row, scanning it like the C code (first maximum, same
 * comparisons, so NaNs behave alike); each block adds its error counts and
 * takes the minimum invalid row (integers: exact in any order). */
static __global__ void
count_errors_rows_kernel(const real *logits, const real *labels, int n, int k) {
  __shared__ int scratch[32];
  int errors = 0, bad = n;
  ADV_FOR(i, n) {
    real l = labels[i];
    if (!(l >= 0 && l < k) || l != (real)(int)l) {
      if (i < bad) bad = (int)i;
      continue;
    }
    const real *row = logits + i * k;
    int best = 0;
    real top = row[0];
    for (int j = 1; j < k; j++)
      if (row[j] > top) {
        top = row[j];
        best = j;
      }
    errors += best != (int)l;
  }
  errors = adv_block_sum(errors, scratch);
  bad = -adv_block_max(-bad, scratch);
  if (threadIdx.x == 0) {
    g_block_errors[blockIdx.x] = errors;
    g_block_bad[blockIdx.x] = bad;
  }
}

/* One block: totals over the nb blocks; out[0] is written only when every
 * label is valid. */
static __global__ void count_errors_finish_kernel(real *out, const real *labels,
                                                  int nb, int n) {
  __shared__ int scratch[32];
  int errors = 0, bad = n;
  for (int b = threadIdx.x; b < nb; b += blockDim.x) {
    errors += g_block_errors[b];
    bad = g_block_bad[b] < bad ? g_block_bad[b] : bad;
  }
  errors = adv_block_sum(errors, scratch);
  bad = -adv_block_max(-bad, scratch);
  if (threadIdx.x == 0) {
    g_count_status.bad = bad;
    g_count_status.label = bad < n ? labels[bad] : (real)0;
    if (bad == n) out[0] = (real)errors;
  }
}

/* out[0] = rows whose first argmax differs from the label. Labels must be
 * integers in [0, k); otherwise nothing is written and an error returned,
 * which needs the outcome on the host: this call waits for the stream (its
 * result is about to be read back anyway). */
ADV_API int adv_count_errors(real *out, const real *logits, const real *labels,
                             int n, int k) {
  ADV_REQUIRE_CUDA();
  if (adv_check_count_errors(__func__, out, logits, labels, n, k)) return 1;
  int64_t blocks = ((int64_t)n + ADV_BLOCK - 1) / ADV_BLOCK;
  int nb = blocks > MAX_PARTIALS ? MAX_PARTIALS : (int)blocks;
  count_errors_rows_kernel<<<nb, ADV_BLOCK, 0, adv_cuda_stream()>>>(
      logits, labels, n, k);
  count_errors_finish_kernel<<<1, ADV_BLOCK, 0, adv_cuda_stream()>>>(
      out, labels, nb, n);
  if (adv_cuda_launched(__func__)) return 1;
  count_status st;
  ADV_CUDA(cudaMemcpyFromSymbolAsync(&st, g_count_status, sizeof st, 0,
                                     cudaMemcpyDeviceToHost,
                                     adv_cuda_stream()));
  ADV_CUDA(cudaStreamSynchronize(adv_cuda_stream()));
  ADV_CHECK(st.bad == n, "labels[%d] = %g is not a class index in [0, %d)",
            st.bad, (double)st.label, k);
  return 0;
}
