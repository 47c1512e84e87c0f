/*
 * advssl native ABI: the flat C interface of both native libraries. The CPU
 * library (the C files of native/) is compiled twice by build.ts, with `real` = float
 * (what the tool runs on) and `real` = double (used only by the gradient
 * checks, which need float64 finite differences); the CUDA library
 * (the CUDA files of kernels/) exports the same kernels over device memory.
 *
 * This header is the one place a kernel's signature is written for
 * TypeScript: build.ts generates src/backend/abi.ts from it (the Deno.dlopen
 * symbol tables and one typed method per kernel), and test/abi_test.ts fails
 * when that file is stale. What the generator makes of a declaration:
 * - ADV_RUNTIME: exported by both libraries, bound as it is (memory, errors,
 *   threads);
 * - ADV_KERNEL: a kernel of both libraries, returning a status: a method of
 *   every backend, `real *` becoming a Storage;
 * - ADV_CPU_KERNEL: a kernel of the CPU library only (a backend method that
 *   the CUDA backend implements through the CPU);
 * - ADV_HOST_KERNEL: a kernel of the CPU library over host arrays (the data
 *   preparation), bound on typed arrays (float32 only);
 * - ADV_OPTIONAL before a pointer: it may be NULL (TypeScript: `| null`);
 *   ADV_HOST: it points to host memory in either library (a typed array);
 *   adv_flag is a boolean; adv_activation and adv_binary_op take the names
 *   of their enum's values.
 *
 * Conventions
 * - All tensors are dense, row-major, NCHW for images. Sizes are int (i32).
 * - Every kernel returns 0 on success or a non-zero status after recording a
 *   one-line message that adv_last_error() returns ("conv2d_forward: ...").
 *   Kernels validate their arguments (null pointers, non-positive sizes,
 *   inconsistent output sizes) before touching memory.
 * - Backward kernels that produce a gradient take `accumulate`: 0 writes the
 *   result, 1 adds it to what the output buffer holds.
 * - Random numbers come from Philox4x32-10 keyed by `seed`; element i of a
 *   call uses counter block (offset + i / 4), so results do not depend on the
 *   number of threads.
 */
#ifndef ADVSSL_H
#define ADVSSL_H

#include <stdint.h>

#ifdef ADV_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#define ADV_EXPORT __attribute__((visibility("default")))
#define ADV_RUNTIME ADV_EXPORT
#define ADV_KERNEL ADV_EXPORT
#define ADV_CPU_KERNEL ADV_EXPORT
#define ADV_HOST_KERNEL ADV_EXPORT
#define ADV_OPTIONAL
#define ADV_HOST

/* A boolean argument: 0 or 1. */
typedef int adv_flag;

/* Activation kinds. */
typedef int adv_activation;
enum adv_activation_values {
  ADV_ACTIVATION_RELU = 0,
  ADV_ACTIVATION_LEAKY_RELU = 1,
  ADV_ACTIVATION_SIGMOID = 2,
  ADV_ACTIVATION_TANH = 3
};

/* Elementwise binary operations with broadcasting. */
typedef int adv_binary_op;
enum adv_binary_op_values {
  ADV_BINARY_OP_ADD = 0,
  ADV_BINARY_OP_SUB = 1,
  ADV_BINARY_OP_MUL = 2,
  ADV_BINARY_OP_DIV = 3
};

/* ---- runtime: memory, errors, threads (memory.c) ---- */
ADV_RUNTIME const char *adv_last_error(void);
ADV_RUNTIME int adv_real_size(void); /* sizeof(real): 4 or 8 */
ADV_RUNTIME void *
adv_alloc(int64_t bytes); /* 64-byte aligned; NULL on failure */
ADV_RUNTIME void adv_free(void *p);
ADV_RUNTIME int adv_set_num_threads(int n); /* OpenMP and OpenBLAS */
ADV_RUNTIME int adv_get_num_threads(void);
/* Convolutions and GEMMs in bfloat16 with float32 accumulation and float32
 * outputs (1), or in the library's own precision (0, the default). The
 * float32 CPU library needs AVX-512-BF16 or AMX (oneDNN); the others reject
 * 1 (dnnl.c, kernels/runtime.cu). */
ADV_RUNTIME int adv_set_precision(int bf16);
/* oneDNN's instruction-set code for this processor (dnnl_cpu_isa_t), 0 where
 * the library has no oneDNN. */
ADV_RUNTIME int adv_onednn_isa(void);
ADV_RUNTIME int adv_fill(real *x, int n, real value);
ADV_RUNTIME int adv_copy(real *dst, const real *src, int n);

/* ---- GEMM (gemm.c): C = alpha * op(A) op(B) + beta * C, row-major ---- */
ADV_KERNEL int adv_gemm(adv_flag trans_a, adv_flag trans_b, int m, int n, int k,
                        real alpha, const real *a, int lda, const real *b,
                        int ldb, real beta, real *c, int ldc);

/* ---- elementwise and reductions (elementwise.c) ---- */
/* y[n,c,s] = x[n,c,s] + b[c] (x may equal y) */
ADV_KERNEL int adv_bias_add(real *y, const real *x, const real *b, int n, int c,
                            int s);
/* db[c] (+)= sum over n and s of dy[n,c,s] */
ADV_KERNEL int adv_bias_grad(real *db, const real *dy, int n, int c, int s,
                             adv_flag accumulate);
/* y = a * x + b * y (x and y distinct or equal) */
ADV_KERNEL int adv_axpby(real *y, real a, const real *x, real b, int n);
/* y = a * x + c, elementwise with a scalar shift */
ADV_KERNEL int adv_affine(real *y, const real *x, real a, real c, int n);
/* out (+)= a * b elementwise */
ADV_KERNEL int adv_mul(real *out, const real *a, const real *b, int n,
                       adv_flag accumulate);
/* Broadcasting binary op over ndim <= 8 dimensions. Strides are in
 * elements; a stride of 0 broadcasts that dimension. */
ADV_KERNEL int adv_broadcast_binary(adv_binary_op op, real *out,
                                    const int *out_shape, int ndim,
                                    const real *a, const int *a_strides,
                                    const real *b, const int *b_strides);
/* out (+)= in summed down to out's shape: in is dense with in_shape; out is
 * addressed through out_strides (0 on the dimensions being summed). */
ADV_KERNEL int adv_sum_to(real *out, const int *out_strides, const real *in,
                          const int *in_shape, int ndim, adv_flag accumulate);
/* out[0] = scale * sum(x) (fixed summation order) */
ADV_KERNEL int adv_sum(real *out, const real *x, int n, real scale);
/* dx (+)= scale * g[0] for every element (backward of sum and mean) */
ADV_KERNEL int adv_fill_from_scalar(real *dx, const real *g, real scale, int n,
                                    adv_flag accumulate);
/* dst[r * dst_stride + j] (+)= src[r * src_stride + j], j < len: the copy
 * behind channel concatenation and its backward (callers pass views) */
ADV_KERNEL int adv_copy_rows(real *dst, int dst_stride, const real *src,
                             int src_stride, int rows, int len,
                             adv_flag accumulate);
/* Activations (leaky relu with `slope`). Backward gets both x and y
 * (sigmoid and tanh use y; relu uses x). */
ADV_KERNEL int adv_act_forward(adv_activation kind, real slope, const real *x,
                               real *y, int n);
ADV_KERNEL int adv_act_backward(adv_activation kind, real slope, const real *x,
                                const real *y, const real *dy, real *dx, int n,
                                adv_flag accumulate);
/* y = x / sqrt(eps + sum_j x[i,j]^2) per row i of an (n, d) matrix */
ADV_KERNEL int adv_l2norm_forward(const real *x, real *y, int n, int d,
                                  real eps);
ADV_KERNEL int adv_l2norm_backward(const real *x, const real *dy, real *dx,
                                   int n, int d, real eps, adv_flag accumulate);
/* out[0] = number of rows whose argmax (first maximum) differs from label */
ADV_KERNEL int adv_count_errors(real *out, const real *logits,
                                const real *labels, int n, int k);

/* ---- random numbers, dropout (rng.c) ---- */
ADV_KERNEL int adv_rand_uniform(real *out, int n, real lo, real hi,
                                uint64_t seed, uint64_t offset);
ADV_KERNEL int adv_rand_normal(real *out, int n, real mean, real std,
                               uint64_t seed, uint64_t offset);
/* mask[i] = (u_i >= p) / (1 - p), y = x * mask; 0 <= p < 1 */
ADV_KERNEL int adv_dropout_forward(const real *x, real *y, real *mask, int n,
                                   real p, uint64_t seed, uint64_t offset);

/* ---- convolution (conv.c), weights (k, c, kh, kw), no bias ----
 * x: (n, c, h, w), y: (n, k, oh, ow), oh = (h + 2 ph - kh) / sh + 1.
 * Transposed convolution is these three with the roles of x and y swapped. */
ADV_KERNEL int adv_conv2d_forward(const real *x, const real *w, real *y, int n,
                                  int c, int h, int wd, int k, int kh, int kw,
                                  int sh, int sw, int ph, int pw, int oh,
                                  int ow);
ADV_KERNEL int adv_conv2d_backward_data(const real *dy, const real *w, real *dx,
                                        int n, int c, int h, int wd, int k,
                                        int kh, int kw, int sh, int sw, int ph,
                                        int pw, int oh, int ow,
                                        adv_flag accumulate);
ADV_KERNEL int adv_conv2d_backward_filter(const real *x, const real *dy,
                                          real *dw, int n, int c, int h, int wd,
                                          int k, int kh, int kw, int sh, int sw,
                                          int ph, int pw, int oh, int ow,
                                          adv_flag accumulate);

/* ---- pooling (pool.c) ---- */
/* padding counts as -infinity; backward recomputes the first argmax */
ADV_KERNEL int adv_maxpool_forward(const real *x, real *y, int n, int c, int h,
                                   int wd, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int oh, int ow);
ADV_KERNEL int adv_maxpool_backward(const real *x, const real *dy, real *dx,
                                    int n, int c, int h, int wd, int kh, int kw,
                                    int sh, int sw, int ph, int pw, int oh,
                                    int ow, adv_flag accumulate);
/* x: (nc, s) -> y: (nc) mean over s */
ADV_KERNEL int adv_global_avgpool_forward(const real *x, real *y, int nc,
                                          int s);
ADV_KERNEL int adv_global_avgpool_backward(const real *dy, real *dx, int nc,
                                           int s, adv_flag accumulate);

/* ---- batch norm (norm.c), x: (n, c, s), s = 1 for 1d ----
 * Training: batch statistics (biased variance), saves mean and 1/sqrt(var +
 * eps); if update_running, running = (1 - momentum) running + momentum batch,
 * with the unbiased variance (as PyTorch). */
ADV_KERNEL int adv_batchnorm_forward_train(
    const real *x, const real *gamma, const real *beta, real *y,
    real *save_mean, real *save_invstd, real *running_mean, real *running_var,
    int n, int c, int s, real momentum, real eps, adv_flag update_running);
ADV_KERNEL int adv_batchnorm_forward_infer(const real *x, const real *gamma,
                                           const real *beta,
                                           const real *running_mean,
                                           const real *running_var, real *y,
                                           int n, int c, int s, real eps);
/* dx, dgamma and dbeta may each be NULL (skipped) */
ADV_KERNEL int adv_batchnorm_backward_train(
    const real *x, const real *gamma, const real *save_mean,
    const real *save_invstd, const real *dy, ADV_OPTIONAL real *dx,
    ADV_OPTIONAL real *dgamma, ADV_OPTIONAL real *dbeta, int n, int c, int s,
    adv_flag accumulate_dx, adv_flag accumulate_params);
ADV_KERNEL int adv_batchnorm_backward_infer(
    const real *x, const real *gamma, const real *running_mean,
    const real *running_var, const real *dy, ADV_OPTIONAL real *dx,
    ADV_OPTIONAL real *dgamma, ADV_OPTIONAL real *dbeta, int n, int c, int s,
    real eps, adv_flag accumulate_dx, adv_flag accumulate_params);

/* ---- softmax and losses (loss.c), rows of length k ---- */
/* softmax, or log-softmax with log_softmax */
ADV_KERNEL int adv_softmax_forward(const real *x, real *y, int n, int k,
                                   adv_flag log_softmax);
ADV_KERNEL int adv_softmax_backward(const real *y, const real *dy, real *dx,
                                    int n, int k, adv_flag log_softmax,
                                    adv_flag accumulate);
/* loss[0] = mean_i -log softmax(x_i)[label_i]; labels hold class indices as
 * reals; saves the log-softmax (n, k) for backward */
ADV_KERNEL int adv_cross_entropy_forward(const real *logits, const real *labels,
                                         real *loss, real *save_logp, int n,
                                         int k);
/* dx (+)= g[0] * (softmax - onehot) / n */
ADV_KERNEL int adv_cross_entropy_backward(const real *save_logp,
                                          const real *labels, const real *g,
                                          real *dx, int n, int k,
                                          adv_flag accumulate);
/* loss[0] = mean_i KL(softmax(a_i) || softmax(b_i)), one pass per row; saves
 * both log-softmaxes for backward */
ADV_KERNEL int adv_kl_forward(const real *a, const real *b, real *loss,
                              real *save_loga, real *save_logb, int n, int k);
/* db (+)= g[0] (softmax(b) - softmax(a)) / n;
 * da (+)= g[0] p_a ((log p_a - log p_b) - KL_i) / n; da or db may be NULL */
ADV_KERNEL int adv_kl_backward(const real *save_loga, const real *save_logb,
                               const real *g, ADV_OPTIONAL real *da,
                               ADV_OPTIONAL real *db, int n, int k,
                               adv_flag accumulate_a, adv_flag accumulate_b);
/* loss[0] = scale * sum (a - b)^2 */
ADV_KERNEL int adv_sq_error_forward(const real *a, const real *b, real *loss,
                                    int n, real scale);
/* da (+)= 2 scale g[0] (a - b), db (+)= -2 scale g[0] (a - b); either NULL */
ADV_KERNEL int adv_sq_error_backward(const real *a, const real *b,
                                     const real *g, ADV_OPTIONAL real *da,
                                     ADV_OPTIONAL real *db, int n, real scale,
                                     adv_flag accumulate_a,
                                     adv_flag accumulate_b);

/* ---- optimiser (optim.c) ----
 * Adam (PyTorch's form) over `count` tensors in one call: tensor t has
 * sizes[t] elements at p = ptrs[4t], g = ptrs[4t+1], m = ptrs[4t+2] and
 * v = ptrs[4t+3] (addresses as int64, in host memory; the tensors are where
 * the library computes). Per element:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), with bc = 1 - beta^t passed in;
 * weight_decay adds weight_decay * p to g first (L2, as torch.optim.Adam). */
ADV_KERNEL int adv_adam_step(int count, const int64_t *ptrs, const int *sizes,
                             real lr, real beta1, real beta2, real eps,
                             real bc1, real bc2, real weight_decay);

/* ---- linear algebra (linalg.c) ---- */
/* Symmetric eigendecomposition of the row-major (n, n) matrix a, in place:
 * w gets the eigenvalues in ascending order and row i of a the unit
 * eigenvector of w[i]. Computed in double (LAPACK dsyevd) for either real. */
ADV_CPU_KERNEL int adv_sym_eig(real *a, real *w, int n);

/* ---- data preparation on host memory (data.c) ---- */
/* out[r * len + j] = in[r * in_stride + j] * scale + shift */
ADV_HOST_KERNEL int adv_bytes_to_real(real *out, const uint8_t *in, int rows,
                                      int len, int in_stride, real scale,
                                      real shift);
/* MAT files' column-major (h, w, c, n) bytes to NCHW reals, scaled */
ADV_HOST_KERNEL int adv_bytes_colmajor_to_nchw(real *out, const uint8_t *in,
                                               int n, int c, int h, int w,
                                               real scale, real shift);
/* dst[b] = image index[b] of src (src_rows images of (c, h, w)), translated
 * and flipped: dst[b](y, x) = src(y + shift_y[b], x' + shift_x[b]) with
 * x' = w - 1 - x where flip[b], else x; zero outside the image (zero padding
 * and a crop). shift_x, shift_y and flip may each be NULL (no change). */
ADV_HOST_KERNEL int adv_gather_augment(real *dst, const real *src, int src_rows,
                                       const int *index, int n, int c, int h,
                                       int w, ADV_OPTIONAL const int *shift_x,
                                       ADV_OPTIONAL const int *shift_y,
                                       ADV_OPTIONAL const int *flip);

#endif
