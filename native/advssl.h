/*
 * advssl native ABI: the flat C interface that src/backend/cpu.ts binds with
 * Deno.dlopen. Every kernel is compiled twice by build.ts: once with
 * `real` = float (the library the tool runs on) and once with `real` = double
 * (used only by the gradient checks, which need float64 finite differences).
 *
 * Conventions
 * - All tensors are dense, row-major, NCHW for images. Sizes are int (i32).
 * - Every kernel returns 0 on success or a non-zero status after recording a
 *   one-line message that adv_last_error() returns ("conv2d_forward: ...").
 *   Kernels validate their arguments (null pointers, non-positive sizes,
 *   inconsistent output sizes) before touching memory.
 * - Backward kernels that produce a gradient take `accumulate`: 0 writes the
 *   result, 1 adds it to what the output buffer holds. An optional output
 *   pointer may be NULL where noted, and is then skipped.
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

/* ---- runtime: memory, errors, threads (memory.c) ---- */
ADV_EXPORT const char *adv_last_error(void);
ADV_EXPORT int adv_real_size(void); /* sizeof(real): 4 or 8 */
ADV_EXPORT void *adv_alloc(int64_t bytes); /* 64-byte aligned; NULL on failure */
ADV_EXPORT void adv_free(void *p);
ADV_EXPORT int adv_set_num_threads(int n); /* OpenMP and OpenBLAS */
ADV_EXPORT int adv_get_num_threads(void);
ADV_EXPORT int adv_fill(real *x, int n, real value);
ADV_EXPORT int adv_copy(real *dst, const real *src, int n);

/* ---- GEMM (gemm.c): C = alpha * op(A) op(B) + beta * C, row-major ---- */
ADV_EXPORT int adv_gemm(int trans_a, int trans_b, int m, int n, int k,
                        real alpha, const real *a, int lda, const real *b,
                        int ldb, real beta, real *c, int ldc);

/* ---- elementwise and reductions (elementwise.c) ---- */
/* y[n,c,s] = x[n,c,s] + b[c] (x may equal y) */
ADV_EXPORT int adv_bias_add(real *y, const real *x, const real *b, int n, int c,
                            int s);
/* db[c] (+)= sum over n and s of dy[n,c,s] */
ADV_EXPORT int adv_bias_grad(real *db, const real *dy, int n, int c, int s,
                             int accumulate);
/* y = a * x + b * y (x and y distinct or equal) */
ADV_EXPORT int adv_axpby(real *y, real a, const real *x, real b, int n);
/* y = a * x + c, elementwise with a scalar shift */
ADV_EXPORT int adv_affine(real *y, const real *x, real a, real c, int n);
/* out (+)= a * b elementwise */
ADV_EXPORT int adv_mul(real *out, const real *a, const real *b, int n,
                       int accumulate);
/* Broadcasting binary op over ndim <= 8 dimensions. op: 0 add, 1 sub, 2 mul,
 * 3 div. Strides are in elements; a stride of 0 broadcasts that dimension. */
ADV_EXPORT int adv_broadcast_binary(int op, real *out, const int *out_shape,
                                    int ndim, const real *a,
                                    const int *a_strides, const real *b,
                                    const int *b_strides);
/* out (+)= in summed down to out's shape: in is dense with in_shape; out is
 * addressed through out_strides (0 on the dimensions being summed). */
ADV_EXPORT int adv_sum_to(real *out, const int *out_strides, const real *in,
                          const int *in_shape, int ndim, int accumulate);
/* out[0] = scale * sum(x) (fixed summation order) */
ADV_EXPORT int adv_sum(real *out, const real *x, int n, real scale);
/* dx (+)= scale * g[0] for every element (backward of sum and mean) */
ADV_EXPORT int adv_fill_from_scalar(real *dx, const real *g, real scale, int n,
                                    int accumulate);
/* dst[r * dst_stride + j] (+)= src[r * src_stride + j], j < len: the copy
 * behind channel concatenation and its backward (callers offset pointers) */
ADV_EXPORT int adv_copy_rows(real *dst, int dst_stride, const real *src,
                             int src_stride, int rows, int len, int accumulate);
/* activations, kind: 0 relu, 1 leaky relu (slope), 2 sigmoid, 3 tanh.
 * Backward gets both x and y (sigmoid and tanh use y; relu uses x). */
ADV_EXPORT int adv_act_forward(int kind, real slope, const real *x, real *y,
                               int n);
ADV_EXPORT int adv_act_backward(int kind, real slope, const real *x,
                                const real *y, const real *dy, real *dx, int n,
                                int accumulate);
/* y = x / sqrt(eps + sum_j x[i,j]^2) per row i of an (n, d) matrix */
ADV_EXPORT int adv_l2norm_forward(const real *x, real *y, int n, int d,
                                  real eps);
ADV_EXPORT int adv_l2norm_backward(const real *x, const real *dy, real *dx,
                                   int n, int d, real eps, int accumulate);
/* out[0] = number of rows whose argmax (first maximum) differs from label */
ADV_EXPORT int adv_count_errors(real *out, const real *logits,
                                const real *labels, int n, int k);

/* ---- random numbers, dropout (rng.c) ---- */
ADV_EXPORT int adv_rand_uniform(real *out, int n, real lo, real hi,
                                uint64_t seed, uint64_t offset);
ADV_EXPORT int adv_rand_normal(real *out, int n, real mean, real std,
                               uint64_t seed, uint64_t offset);
/* mask[i] = (u_i >= p) / (1 - p), y = x * mask; 0 <= p < 1 */
ADV_EXPORT int adv_dropout_forward(const real *x, real *y, real *mask, int n,
                                   real p, uint64_t seed, uint64_t offset);

/* ---- convolution (conv.c), weights (k, c, kh, kw), no bias ----
 * x: (n, c, h, w), y: (n, k, oh, ow), oh = (h + 2 ph - kh) / sh + 1.
 * Transposed convolution is these three with the roles of x and y swapped. */
ADV_EXPORT int adv_conv2d_forward(const real *x, const real *w, real *y, int n,
                                  int c, int h, int wd, int k, int kh, int kw,
                                  int sh, int sw, int ph, int pw, int oh,
                                  int ow);
ADV_EXPORT int adv_conv2d_backward_data(const real *dy, const real *w, real *dx,
                                        int n, int c, int h, int wd, int k,
                                        int kh, int kw, int sh, int sw, int ph,
                                        int pw, int oh, int ow, int accumulate);
ADV_EXPORT int adv_conv2d_backward_filter(const real *x, const real *dy,
                                          real *dw, int n, int c, int h, int wd,
                                          int k, int kh, int kw, int sh, int sw,
                                          int ph, int pw, int oh, int ow,
                                          int accumulate);

/* ---- pooling (pool.c) ---- */
/* padding counts as -infinity; backward recomputes the first argmax */
ADV_EXPORT int adv_maxpool_forward(const real *x, real *y, int n, int c, int h,
                                   int wd, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int oh, int ow);
ADV_EXPORT int adv_maxpool_backward(const real *x, const real *dy, real *dx,
                                    int n, int c, int h, int wd, int kh, int kw,
                                    int sh, int sw, int ph, int pw, int oh,
                                    int ow, int accumulate);
/* x: (nc, s) -> y: (nc) mean over s */
ADV_EXPORT int adv_global_avgpool_forward(const real *x, real *y, int nc,
                                          int s);
ADV_EXPORT int adv_global_avgpool_backward(const real *dy, real *dx, int nc,
                                           int s, int accumulate);

/* ---- batch norm (norm.c), x: (n, c, s), s = 1 for 1d ----
 * Training: batch statistics (biased variance), saves mean and 1/sqrt(var +
 * eps); if update_running, running = (1 - momentum) running + momentum batch,
 * with the unbiased variance (as PyTorch). */
ADV_EXPORT int adv_batchnorm_forward_train(
    const real *x, const real *gamma, const real *beta, real *y,
    real *save_mean, real *save_invstd, real *running_mean, real *running_var,
    int n, int c, int s, real momentum, real eps, int update_running);
ADV_EXPORT int adv_batchnorm_forward_infer(const real *x, const real *gamma,
                                           const real *beta,
                                           const real *running_mean,
                                           const real *running_var, real *y,
                                           int n, int c, int s, real eps);
/* dx, dgamma and dbeta may each be NULL (skipped) */
ADV_EXPORT int adv_batchnorm_backward_train(
    const real *x, const real *gamma, const real *save_mean,
    const real *save_invstd, const real *dy, real *dx, real *dgamma,
    real *dbeta, int n, int c, int s, int accumulate_dx, int accumulate_params);
ADV_EXPORT int adv_batchnorm_backward_infer(
    const real *x, const real *gamma, const real *running_mean,
    const real *running_var, const real *dy, real *dx, real *dgamma,
    real *dbeta, int n, int c, int s, real eps, int accumulate_dx,
    int accumulate_params);

/* ---- softmax and losses (loss.c), rows of length k ---- */
/* log_softmax: 0 softmax, 1 log-softmax */
ADV_EXPORT int adv_softmax_forward(const real *x, real *y, int n, int k,
                                   int log_softmax);
ADV_EXPORT int adv_softmax_backward(const real *y, const real *dy, real *dx,
                                    int n, int k, int log_softmax,
                                    int accumulate);
/* loss[0] = mean_i -log softmax(x_i)[label_i]; labels hold class indices as
 * reals; saves the log-softmax (n, k) for backward */
ADV_EXPORT int adv_cross_entropy_forward(const real *logits, const real *labels,
                                         real *loss, real *save_logp, int n,
                                         int k);
/* dx (+)= g[0] * (softmax - onehot) / n */
ADV_EXPORT int adv_cross_entropy_backward(const real *save_logp,
                                          const real *labels, const real *g,
                                          real *dx, int n, int k,
                                          int accumulate);
/* loss[0] = mean_i KL(softmax(a_i) || softmax(b_i)), one pass per row; saves
 * both log-softmaxes for backward */
ADV_EXPORT int adv_kl_forward(const real *a, const real *b, real *loss,
                              real *save_loga, real *save_logb, int n, int k);
/* db (+)= g[0] (softmax(b) - softmax(a)) / n;
 * da (+)= g[0] p_a ((log p_a - log p_b) - KL_i) / n; da or db may be NULL */
ADV_EXPORT int adv_kl_backward(const real *save_loga, const real *save_logb,
                               const real *g, real *da, real *db, int n, int k,
                               int accumulate_a, int accumulate_b);
/* loss[0] = scale * sum (a - b)^2 */
ADV_EXPORT int adv_sq_error_forward(const real *a, const real *b, real *loss,
                                    int n, real scale);
/* da (+)= 2 scale g[0] (a - b), db (+)= -2 scale g[0] (a - b); either NULL */
ADV_EXPORT int adv_sq_error_backward(const real *a, const real *b,
                                     const real *g, real *da, real *db, int n,
                                     real scale, int accumulate_a,
                                     int accumulate_b);

/* ---- optimiser (optim.c) ----
 * Adam (PyTorch's form) over `count` tensors in one call: tensor t has
 * sizes[t] elements at p = ptrs[4t], g = ptrs[4t+1], m = ptrs[4t+2] and
 * v = ptrs[4t+3] (addresses as int64, in host memory; the tensors are where
 * the library computes). Per element:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), with bc = 1 - beta^t passed in;
 * weight_decay adds weight_decay * p to g first (L2, as torch.optim.Adam). */
ADV_EXPORT int adv_adam_step(int count, const int64_t *ptrs, const int *sizes,
                             real lr, real beta1, real beta2, real eps,
                             real bc1, real bc2, real weight_decay);

/* ---- linear algebra (linalg.c) ---- */
/* Symmetric eigendecomposition of the row-major (n, n) matrix a, in place:
 * w gets the eigenvalues in ascending order and row i of a the unit
 * eigenvector of w[i]. Computed in double (LAPACK dsyevd) for either real. */
ADV_EXPORT int adv_sym_eig(real *a, real *w, int n);

/* ---- data preparation on host memory (data.c) ---- */
/* out[r * len + j] = in[r * in_stride + j] * scale + shift */
ADV_EXPORT int adv_bytes_to_real(real *out, const uint8_t *in, int rows,
                                 int len, int in_stride, real scale,
                                 real shift);
/* MAT files' column-major (h, w, c, n) bytes to NCHW reals, scaled */
ADV_EXPORT int adv_bytes_colmajor_to_nchw(real *out, const uint8_t *in, int n,
                                          int c, int h, int w, real scale,
                                          real shift);
/* dst[b] = image index[b] of src (src_rows images of (c, h, w)), translated
 * and flipped: dst[b](y, x) = src(y + shift_y[b], x' + shift_x[b]) with
 * x' = w - 1 - x where flip[b], else x; zero outside the image (zero padding
 * and a crop). shift_x, shift_y and flip may each be NULL (no change). */
ADV_EXPORT int adv_gather_augment(real *dst, const real *src, int src_rows,
                                  const int *index, int n, int c, int h, int w,
                                  const int *shift_x, const int *shift_y,
                                  const int *flip);

#endif
