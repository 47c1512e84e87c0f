/* Shared helpers for the native kernels: argument checks and the error slot. */
#ifndef ADVSSL_COMMON_H
#define ADVSSL_COMMON_H

#include "advssl.h"

/* Records "fn: message" for adv_last_error() and returns a non-zero status. */
int adv_fail(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks the geometry of a convolution (native/shared.c): positive sizes,
 * non-negative padding, a kernel that fits, and oh, ow = floor((h + 2 ph -
 * kh) / sh) + 1 (floor: a transposed convolution's input may be up to sh - 1
 * larger). Returns 0, or records "fn: ..." and returns 1. */
int adv_check_conv_geometry(const char *fn, int n, int c, int h, int wd, int k,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow);

/* Convolutions through oneDNN (dnnl.c, float32 builds with ADV_DNNL):
 * pass is one of the three below; in0, in1 and out are the pass's tensors in
 * the order of conv.c's kernels (forward: x, w -> y; backward data: dy, w ->
 * dx; backward weights: x, dy -> dw), out added to when accumulate. Returns 0,
 * 1 on an error recorded for fn, or ADV_DNNL_DECLINED when oneDNN has no
 * kernel for the geometry (conv.c then runs im2col). */
#define ADV_CONV_FORWARD 0
#define ADV_CONV_BACKWARD_DATA 1
#define ADV_CONV_BACKWARD_WEIGHTS 2
#define ADV_DNNL_DECLINED 2
int adv_dnnl_conv2d(const char *fn, int pass, const real *in0, const real *in1,
                    real *out, int accumulate, int n, int c, int h, int wd,
                    int k, int kh, int kw, int sh, int sw, int ph, int pw,
                    int oh, int ow);

/* GEMMs in bfloat16 through oneDNN (dnnl.c): adv_gemm's contract, float
 * only; adv_dnnl_bf16() says whether adv_set_precision asked for them. */
int adv_dnnl_bf16(void);
int adv_dnnl_gemm_bf16(const char *fn, int trans_a, int trans_b, int m, int n,
                       int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc);

/* Checks the geometry of a pooling window (native/shared.c): as for a
 * convolution without output channels, and padding below the kernel size so
 * that every window holds a real element. */
int adv_check_pool_geometry(const char *fn, int n, int c, int h, int wd,
                            int kh, int kw, int sh, int sw, int ph, int pw,
                            int oh, int ow);

/* The most dimensions adv_broadcast_binary and adv_sum_to take. */
#define ADV_MAX_DIMS 8

/* ---- argument checks, one per kernel (native/shared.c) ----
 * Each takes the kernel's name (its __func__) and arguments, and checks them
 * as both the C and the CUDA twin need: 0 when they are valid, else records
 * "kernel: ..." and returns 1. Only host-readable arguments are read (the
 * int shape and stride arrays, adam's pointer and size lists); tensors are
 * only tested for NULL, so the CUDA library passes device pointers. */

/* runtime (memory.c, kernels/runtime.cu) */
int adv_check_alloc(const char *fn, int64_t bytes);
int adv_check_set_num_threads(const char *fn, int n);
int adv_check_fill(const char *fn, const real *x, int n);
int adv_check_copy(const char *fn, const real *dst, const real *src, int n);

/* gemm.c */
int adv_check_gemm(const char *fn, int trans_a, int trans_b, int m, int n,
                   int k, const real *a, int lda, const real *b, int ldb,
                   const real *c, int ldc);

/* elementwise.c */
int adv_check_bias_add(const char *fn, const real *y, const real *x,
                       const real *b, int n, int c, int s);
int adv_check_bias_grad(const char *fn, const real *db, const real *dy, int n,
                        int c, int s);
int adv_check_axpby(const char *fn, const real *y, const real *x, int n);
int adv_check_affine(const char *fn, const real *y, const real *x, int n);
int adv_check_mul(const char *fn, const real *out, const real *a,
                  const real *b, int n);
int adv_check_broadcast_binary(const char *fn, int op, const real *out,
                               const int *out_shape, int ndim, const real *a,
                               const int *a_strides, const real *b,
                               const int *b_strides);
int adv_check_sum_to(const char *fn, const real *out, const int *out_strides,
                     const real *in, const int *in_shape, int ndim);
int adv_check_sum(const char *fn, const real *out, const real *x, int n);
int adv_check_fill_from_scalar(const char *fn, const real *dx, const real *g,
                               int n);
int adv_check_copy_rows(const char *fn, const real *dst, int dst_stride,
                        const real *src, int src_stride, int rows, int len);
int adv_check_act_forward(const char *fn, int kind, const real *x,
                          const real *y, int n);
int adv_check_act_backward(const char *fn, int kind, const real *x,
                           const real *y, const real *dy, const real *dx,
                           int n);
int adv_check_l2norm_forward(const char *fn, const real *x, const real *y,
                             int n, int d, real eps);
int adv_check_l2norm_backward(const char *fn, const real *x, const real *dy,
                              const real *dx, int n, int d, real eps);
int adv_check_count_errors(const char *fn, const real *out,
                           const real *logits, const real *labels, int n,
                           int k);

/* rng.c */
int adv_check_rand_uniform(const char *fn, const real *out, int n, real lo,
                           real hi);
int adv_check_rand_normal(const char *fn, const real *out, int n, real mean,
                          real stddev);
int adv_check_dropout_forward(const char *fn, const real *x, const real *y,
                              const real *mask, int n, real p);

/* conv.c: the pointers, then adv_check_conv_geometry */
int adv_check_conv2d_forward(const char *fn, const real *x, const real *w,
                             const real *y, int n, int c, int h, int wd, int k,
                             int kh, int kw, int sh, int sw, int ph, int pw,
                             int oh, int ow);
int adv_check_conv2d_backward_data(const char *fn, const real *dy,
                                   const real *w, const real *dx, int n, int c,
                                   int h, int wd, int k, int kh, int kw,
                                   int sh, int sw, int ph, int pw, int oh,
                                   int ow);
int adv_check_conv2d_backward_filter(const char *fn, const real *x,
                                     const real *dy, const real *dw, int n,
                                     int c, int h, int wd, int k, int kh,
                                     int kw, int sh, int sw, int ph, int pw,
                                     int oh, int ow);

/* pool.c: max pooling checks the pointers, then adv_check_pool_geometry */
int adv_check_maxpool_forward(const char *fn, const real *x, const real *y,
                              int n, int c, int h, int wd, int kh, int kw,
                              int sh, int sw, int ph, int pw, int oh, int ow);
int adv_check_maxpool_backward(const char *fn, const real *x, const real *dy,
                               const real *dx, int n, int c, int h, int wd,
                               int kh, int kw, int sh, int sw, int ph, int pw,
                               int oh, int ow);
int adv_check_global_avgpool_forward(const char *fn, const real *x,
                                     const real *y, int nc, int s);
int adv_check_global_avgpool_backward(const char *fn, const real *dy,
                                      const real *dx, int nc, int s);

/* norm.c */
int adv_check_batchnorm_forward_train(
    const char *fn, const real *x, const real *gamma, const real *beta,
    const real *y, const real *save_mean, const real *save_invstd,
    const real *running_mean, const real *running_var, int n, int c, int s,
    real eps, int update_running);
int adv_check_batchnorm_forward_infer(const char *fn, const real *x,
                                      const real *gamma, const real *beta,
                                      const real *running_mean,
                                      const real *running_var, const real *y,
                                      int n, int c, int s, real eps);
int adv_check_batchnorm_backward_train(const char *fn, const real *x,
                                       const real *gamma,
                                       const real *save_mean,
                                       const real *save_invstd, const real *dy,
                                       int n, int c, int s);
int adv_check_batchnorm_backward_infer(const char *fn, const real *x,
                                       const real *gamma,
                                       const real *running_mean,
                                       const real *running_var, const real *dy,
                                       int n, int c, int s, real eps);

/* loss.c */
int adv_check_softmax_forward(const char *fn, const real *x, const real *y,
                              int n, int k);
int adv_check_softmax_backward(const char *fn, const real *y, const real *dy,
                               const real *dx, int n, int k);
int adv_check_cross_entropy_forward(const char *fn, const real *logits,
                                    const real *labels, const real *loss,
                                    const real *save_logp, int n, int k);
int adv_check_cross_entropy_backward(const char *fn, const real *save_logp,
                                     const real *labels, const real *g,
                                     const real *dx, int n, int k);
int adv_check_kl_forward(const char *fn, const real *a, const real *b,
                         const real *loss, const real *save_loga,
                         const real *save_logb, int n, int k);
int adv_check_kl_backward(const char *fn, const real *save_loga,
                          const real *save_logb, const real *g, int n, int k);
int adv_check_sq_error_forward(const char *fn, const real *a, const real *b,
                               const real *loss, int n);
int adv_check_sq_error_backward(const char *fn, const real *a, const real *b,
                                const real *g, int n);

/* optim.c */
int adv_check_adam_step(const char *fn, int count, const int64_t *ptrs,
                        const int *sizes, real beta1, real beta2, real eps,
                        real bc1, real bc2);

/* Each check returns adv_fail(fn, ...) from the enclosing function when cond
 * is false; the plain forms name the enclosing function, the _IN forms the
 * kernel fn that a shared check function was called for. */
#define ADV_CHECK_IN(fn, cond, ...)                                            \
  do {                                                                         \
    if (!(cond)) return adv_fail(fn, __VA_ARGS__);                             \
  } while (0)
#define ADV_CHECK_PTR_IN(fn, p)                                                \
  ADV_CHECK_IN(fn, (p) != 0, "argument '%s' is NULL", #p)
#define ADV_CHECK_POS_IN(fn, v)                                                \
  ADV_CHECK_IN(fn, (v) > 0, "argument '%s' must be > 0, got %d", #v, (int)(v))
#define ADV_CHECK_NONNEG_IN(fn, v)                                             \
  ADV_CHECK_IN(fn, (v) >= 0, "argument '%s' must be >= 0, got %d", #v,         \
               (int)(v))

#define ADV_CHECK(cond, ...) ADV_CHECK_IN(__func__, cond, __VA_ARGS__)
#define ADV_CHECK_PTR(p) ADV_CHECK_PTR_IN(__func__, p)
#define ADV_CHECK_POS(v) ADV_CHECK_POS_IN(__func__, v)
#define ADV_CHECK_NONNEG(v) ADV_CHECK_NONNEG_IN(__func__, v)

/* Loops below this many elements stay on one thread: waking threads costs
 * more than it saves. */
#define ADV_PARALLEL_MIN 32768

#endif
