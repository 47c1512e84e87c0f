/*
 * 2-D convolution through cuDNN: NCHW float32, weights (k, c, kh, kw), no
 * bias, dilation or groups; transposed convolution is these three passes with
 * the roles of x and y swapped (src/ops/conv.ts).
 *
 * Each geometry gets a plan, made on first use and kept: the tensor, filter
 * and convolution descriptors, and per pass the algorithm cudnnFind picked
 * (the fastest deterministic one that succeeded, timed on this GPU) with its
 * math type and workspace size. The workspace is the scratch buffer all ops
 * share (runtime.cu); it only grows, so after the first training step no
 * call allocates.
 * `accumulate` maps to cuDNN's beta: 0 overwrites, any other value adds
 * (as the C code's `accumulate ? 1 : 0`).
 */
#include <stdlib.h>

#include "common.cuh"

typedef struct {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, tf32;
} ConvKey;

typedef struct {
  int found;
  int algo;
  cudnnMathType_t math;
  size_t workspace;
} Choice;

typedef struct Plan {
  ConvKey key;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  Choice fwd, bwd_data, bwd_filter;
  struct Plan *next;
} Plan;

static Plan *g_plans = NULL;

/* Algorithms whose workspace is above this are passed over. */
#define MAX_WORKSPACE ((size_t)1 << 31)

static int same_key(const ConvKey *a, const ConvKey *b) {
  return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w &&
         a->k == b->k && a->kh == b->kh && a->kw == b->kw && a->sh == b->sh &&
         a->sw == b->sw && a->ph == b->ph && a->pw == b->pw &&
         a->tf32 == b->tf32;
}

static int make_plan(const char *fn, const ConvKey *key, int oh, int ow,
                     Plan **out) {
  Plan *p = (Plan *)calloc(1, sizeof(Plan));
  if (!p) return adv_fail(fn, "out of host memory for a convolution plan");
  p->key = *key;
  cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
  const char *what = "";
#define TRY(call)                                                              \
  if (s == CUDNN_STATUS_SUCCESS) {                                             \
    s = (call);                                                                \
    what = #call;                                                              \
  }
  TRY(cudnnCreateTensorDescriptor(&p->x));
  TRY(cudnnCreateTensorDescriptor(&p->y));
  TRY(cudnnCreateFilterDescriptor(&p->w));
  TRY(cudnnCreateConvolutionDescriptor(&p->conv));
  TRY(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                 key->n, key->c, key->h, key->w));
  TRY(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                 key->n, key->k, oh, ow));
  TRY(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                 key->k, key->c, key->kh, key->kw));
  /* CROSS_CORRELATION is what deep-learning "convolution" means */
  TRY(cudnnSetConvolution2dDescriptor(p->conv, key->ph, key->pw, key->sh,
                                      key->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                                      CUDNN_DATA_FLOAT));
  /* FMA math restricts cuDNN to exact float32 kernels; tensor-op math lets
   * it use TF32 (PyTorch's allow_tf32 does the same) */
  TRY(cudnnSetConvolutionMathType(
      p->conv, key->tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
#undef TRY
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(p->x);
    cudnnDestroyTensorDescriptor(p->y);
    cudnnDestroyFilterDescriptor(p->w);
    cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
    return adv_fail(fn, "%s failed: %s", what, cudnnGetErrorString(s));
  }
  p->next = g_plans;
  g_plans = p;
  *out = p;
  return 0;
}

/* The geometry, checked by the caller (adv_check_conv2d_*). */
static int plan_for(const char *fn, int n, int c, int h, int w, int k, int kh,
                    int kw, int sh, int sw, int ph, int pw, int oh, int ow,
                    Plan **out) {
  ConvKey key = {n, c, h, w, k, kh, kw, sh, sw, ph, pw, adv_cuda_tf32()};
  for (Plan *p = g_plans; p; p = p->next) {
    if (same_key(&p->key, &key)) {
      *out = p;
      return 0;
    }
  }
  return make_plan(fn, &key, oh, ow, out);
}

/* The fastest result that succeeded, is deterministic, fits MAX_WORKSPACE and,
 * without TF32, uses no tensor-op math; results come sorted by time. */
template <typename Perf>
static int pick(const char *fn, const Perf *perf, int count, int tf32,
                Choice *choice) {
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < count; i++) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      if (perf[i].memory > MAX_WORKSPACE) continue;
      if (!tf32 && perf[i].mathType != CUDNN_FMA_MATH &&
          perf[i].mathType != CUDNN_DEFAULT_MATH)
        continue;
      /* ALLOW_CONVERSION may round float inputs to half: never wanted */
      if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      /* first pass: deterministic only; second: anything that works */
      if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      choice->algo = (int)perf[i].algo;
      /* DEFAULT_MATH permits TF32 on Ampere and later: without TF32 run
       * with FMA math, the setting the algorithm was found (and timed) under */
      choice->math = tf32 ? perf[i].mathType : CUDNN_FMA_MATH;
      choice->workspace = perf[i].memory;
      choice->found = 1;
      return 0;
    }
  }
  return adv_fail(fn, "cuDNN found no working algorithm among %d", count);
}

/* cuDNN's workspace: the shared scratch buffer (runtime.cu). */
static int workspace(const char *fn, size_t bytes, void **out) {
  cudaError_t e = adv_cuda_scratch(bytes, out);
  if (e == cudaSuccess) return 0;
  return adv_fail(fn, "out of device memory for a %.1f MiB cuDNN workspace (%s)",
                  bytes / 1048576.0, cudaGetErrorName(e));
}

#define REQUESTED 16

/* Each pass leaves its own pick's math type on the shared descriptor, and
 * cudnnFind only tries what the descriptor's math type permits: reset it to
 * the plan's mode before a search (an FMA pick of the forward pass would
 * otherwise keep the backward passes off tensor cores with TF32 on). */
static cudnnStatus_t set_find_math(Plan *p) {
  return cudnnSetConvolutionMathType(
      p->conv, p->key.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
}

ADV_API int adv_conv2d_forward(const real *x, const real *w, real *y, int n,
                               int c, int h, int wd, int k, int kh, int kw,
                               int sh, int sw, int ph, int pw, int oh, int ow) {
  ADV_REQUIRE_CUDA();
  if (adv_check_conv2d_forward(__func__, x, w, y, n, c, h, wd, k, kh, kw, sh,
                               sw, ph, pw, oh, ow))
    return 1;
  Plan *p = NULL;
  if (plan_for(__func__, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow, &p))
    return 1;
  cudnnHandle_t handle = adv_cuda_cudnn();
  if (!p->fwd.found) {
    ADV_CUDNN(set_find_math(p));
    cudnnConvolutionFwdAlgoPerf_t perf[REQUESTED];
    int count = 0;
    ADV_CUDNN(cudnnFindConvolutionForwardAlgorithm(handle, p->x, p->w, p->conv,
                                                   p->y, REQUESTED, &count,
                                                   perf));
    if (pick(__func__, perf, count, p->key.tf32, &p->fwd)) return 1;
  }
  void *ws = NULL;
  if (workspace(__func__, p->fwd.workspace, &ws)) return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->fwd.math));
  const float alpha = 1, beta = 0;
  ADV_CUDNN(cudnnConvolutionForward(
      handle, &alpha, p->x, x, p->w, w, p->conv,
      (cudnnConvolutionFwdAlgo_t)p->fwd.algo, ws, p->fwd.workspace,
      &beta, p->y, y));
  return 0;
}

ADV_API int adv_conv2d_backward_data(const real *dy, const real *w, real *dx,
                                     int n, int c, int h, int wd, int k, int kh,
                                     int kw, int sh, int sw, int ph, int pw,
                                     int oh, int ow, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_conv2d_backward_data(__func__, dy, w, dx, n, c, h, wd, k, kh,
                                     kw, sh, sw, ph, pw, oh, ow))
    return 1;
  Plan *p = NULL;
  if (plan_for(__func__, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow, &p))
    return 1;
  cudnnHandle_t handle = adv_cuda_cudnn();
  if (!p->bwd_data.found) {
    ADV_CUDNN(set_find_math(p));
    cudnnConvolutionBwdDataAlgoPerf_t perf[REQUESTED];
    int count = 0;
    ADV_CUDNN(cudnnFindConvolutionBackwardDataAlgorithm(
        handle, p->w, p->y, p->conv, p->x, REQUESTED, &count, perf));
    if (pick(__func__, perf, count, p->key.tf32, &p->bwd_data)) return 1;
  }
  void *ws = NULL;
  if (workspace(__func__, p->bwd_data.workspace, &ws)) return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->bwd_data.math));
  const float alpha = 1, beta = accumulate ? 1.0f : 0.0f;
  ADV_CUDNN(cudnnConvolutionBackwardData(
      handle, &alpha, p->w, w, p->y, dy, p->conv,
      (cudnnConvolutionBwdDataAlgo_t)p->bwd_data.algo, ws,
      p->bwd_data.workspace, &beta, p->x, dx));
  return 0;
}

ADV_API int adv_conv2d_backward_filter(const real *x, const real *dy, real *dw,
                                       int n, int c, int h, int wd, int k,
                                       int kh, int kw, int sh, int sw, int ph,
                                       int pw, int oh, int ow, int accumulate) {
  ADV_REQUIRE_CUDA();
  if (adv_check_conv2d_backward_filter(__func__, x, dy, dw, n, c, h, wd, k, kh,
                                       kw, sh, sw, ph, pw, oh, ow))
    return 1;
  Plan *p = NULL;
  if (plan_for(__func__, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow, &p))
    return 1;
  cudnnHandle_t handle = adv_cuda_cudnn();
  if (!p->bwd_filter.found) {
    ADV_CUDNN(set_find_math(p));
    cudnnConvolutionBwdFilterAlgoPerf_t perf[REQUESTED];
    int count = 0;
    ADV_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithm(
        handle, p->x, p->y, p->conv, p->w, REQUESTED, &count, perf));
    if (pick(__func__, perf, count, p->key.tf32, &p->bwd_filter)) return 1;
  }
  void *ws = NULL;
  if (workspace(__func__, p->bwd_filter.workspace, &ws)) return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->bwd_filter.math));
  const float alpha = 1, beta = accumulate ? 1.0f : 0.0f;
  ADV_CUDNN(cudnnConvolutionBackwardFilter(
      handle, &alpha, p->x, x, p->y, dy, p->conv,
      (cudnnConvolutionBwdFilterAlgo_t)p->bwd_filter.algo, ws,
      p->bwd_filter.workspace, &beta, p->w, dw));
  return 0;
}
