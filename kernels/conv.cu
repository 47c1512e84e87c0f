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
 *
 * Under --precision bf16 (adv_cuda_bf16) a geometry gets a second plan in
 * cuDNN's BFLOAT16 config: the operands are rounded into bf16 copies in the
 * scratch buffer beside the workspace, the pass writes a bf16 result there
 * (float32 accumulation inside), and that result is widened into the float32
 * output, or added to it where the pass accumulates (bf16.cu).
 */
#include <stdlib.h>

#include "common.cuh"

typedef struct {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, tf32, bf16;
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
         a->tf32 == b->tf32 && a->bf16 == b->bf16;
}

/* Whether the plan may use tensor-op math: TF32 allowed, or bf16 operands. */
static int tensor_math(const ConvKey *key) { return key->tf32 || key->bf16; }

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
  cudnnDataType_t type = key->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  TRY(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, type, key->n, key->c,
                                 key->h, key->w));
  TRY(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, type, key->n, key->k,
                                 oh, ow));
  TRY(cudnnSetFilter4dDescriptor(p->w, type, CUDNN_TENSOR_NCHW, key->k, key->c,
                                 key->kh, key->kw));
  /* CROSS_CORRELATION is what deep-learning "convolution" means; the
   * compute type is float32 in both configs */
  TRY(cudnnSetConvolution2dDescriptor(p->conv, key->ph, key->pw, key->sh,
                                      key->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                                      CUDNN_DATA_FLOAT));
  /* FMA math restricts cuDNN to exact float32 kernels; tensor-op math lets
   * it use TF32 (PyTorch's allow_tf32 does the same), or bf16 tensor cores */
  TRY(cudnnSetConvolutionMathType(p->conv, tensor_math(key) ? CUDNN_TENSOR_OP_MATH
                                                            : CUDNN_FMA_MATH));
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
  ConvKey key = {n,  c,  h,  w,  k,  kh,
                 kw, sh, sw, ph, pw, adv_cuda_tf32(), adv_cuda_bf16()};
  for (Plan *p = g_plans; p; p = p->next) {
    if (same_key(&p->key, &key)) {
      *out = p;
      return 0;
    }
  }
  return make_plan(fn, &key, oh, ow, out);
}

/* The fastest result that succeeded, is deterministic, fits MAX_WORKSPACE and,
 * without tensor-op math allowed (TF32 or bf16), uses none; results come
 * sorted by time. */
template <typename Perf>
static int pick(const char *fn, const Perf *perf, int count, int tensor_ok,
                Choice *choice) {
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < count; i++) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      if (perf[i].memory > MAX_WORKSPACE) continue;
      if (!tensor_ok && perf[i].mathType != CUDNN_FMA_MATH &&
          perf[i].mathType != CUDNN_DEFAULT_MATH)
        continue;
      /* ALLOW_CONVERSION may round float inputs to half: never wanted */
      if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      /* first pass: deterministic only; second: anything that works */
      if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      choice->algo = (int)perf[i].algo;
      /* DEFAULT_MATH permits TF32 on Ampere and later: without TF32 run
       * with FMA math, the setting the algorithm was found (and timed) under */
      choice->math = tensor_ok ? perf[i].mathType : CUDNN_FMA_MATH;
      choice->workspace = perf[i].memory;
      choice->found = 1;
      return 0;
    }
  }
  return adv_fail(fn, "cuDNN found no working algorithm among %d", count);
}

#define REQUESTED 16

/* Each pass leaves its own pick's math type on the shared descriptor, and
 * cudnnFind only tries what the descriptor's math type permits: reset it to
 * the plan's mode before a search (an FMA pick of the forward pass would
 * otherwise keep the backward passes off tensor cores with TF32 on). */
static cudnnStatus_t set_find_math(Plan *p) {
  return cudnnSetConvolutionMathType(
      p->conv, tensor_math(&p->key) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
}

static size_t aligned(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

/* A pass's buffers: cuDNN's workspace `ws`, at the start of the shared
 * scratch buffer (runtime.cu); the operands it reads (the float32 tensors a
 * and b, or under bf16 their rounded copies, after the workspace); and where
 * it writes (`out`, or the bf16 copy that finish() widens into it). */
typedef struct {
  void *ws;
  const void *a, *b;
  void *out;
  float beta; /* cuDNN's: the bf16 copy is always overwritten */
} Pass;

static int begin(const char *fn, const Plan *p, size_t ws_bytes, const real *a,
                 int64_t na, const real *b, int64_t nb, real *out, int64_t nout,
                 int accumulate, Pass *ps) {
  int bf16 = p->key.bf16;
  size_t bf = bf16 ? 2 : 0; /* bytes per bf16 copy element */
  size_t at_a = aligned(ws_bytes), at_b = at_a + aligned(bf * (size_t)na),
         at_out = at_b + aligned(bf * (size_t)nb),
         total = at_out + aligned(bf * (size_t)nout);
  void *base = NULL;
  cudaError_t e = adv_cuda_scratch(total, &base);
  if (e != cudaSuccess)
    return adv_fail(fn, "out of device memory for %.1f MiB of cuDNN workspace%s (%s)",
                    total / 1048576.0, bf16 ? " and bf16 copies" : "",
                    cudaGetErrorName(e));
  ps->ws = base;
  ps->beta = accumulate && !bf16 ? 1.0f : 0.0f;
  if (!bf16) {
    ps->a = a;
    ps->b = b;
    ps->out = out;
    return 0;
  }
  void *ca = (char *)base + at_a, *cb = (char *)base + at_b;
  ps->a = ca;
  ps->b = cb;
  ps->out = (char *)base + at_out;
  return adv_cuda_to_bf16(fn, a, ca, na) || adv_cuda_to_bf16(fn, b, cb, nb);
}

/* Under bf16, the pass's result widened into out (added where accumulating). */
static int finish(const char *fn, const Plan *p, const Pass *ps, real *out,
                  int64_t nout, int accumulate) {
  if (!p->key.bf16) return 0;
  return adv_cuda_from_bf16(fn, ps->out, out, nout, accumulate);
}

/* Elements of x, w and y of a geometry. */
#define CONV_SIZES                                                   \
  int64_t nx = (int64_t)n * c * h * wd, nw = (int64_t)k * c * kh * kw, \
          ny = (int64_t)n * k * oh * ow

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
    if (pick(__func__, perf, count, tensor_math(&p->key), &p->fwd)) return 1;
  }
  CONV_SIZES;
  Pass ps;
  if (begin(__func__, p, p->fwd.workspace, x, nx, w, nw, y, ny, 0, &ps))
    return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->fwd.math));
  const float alpha = 1;
  ADV_CUDNN(cudnnConvolutionForward(
      handle, &alpha, p->x, ps.a, p->w, ps.b, p->conv,
      (cudnnConvolutionFwdAlgo_t)p->fwd.algo, ps.ws, p->fwd.workspace,
      &ps.beta, p->y, ps.out));
  return finish(__func__, p, &ps, y, ny, 0);
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
    if (pick(__func__, perf, count, tensor_math(&p->key), &p->bwd_data))
      return 1;
  }
  CONV_SIZES;
  Pass ps;
  if (begin(__func__, p, p->bwd_data.workspace, dy, ny, w, nw, dx, nx,
            accumulate, &ps))
    return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->bwd_data.math));
  const float alpha = 1;
  ADV_CUDNN(cudnnConvolutionBackwardData(
      handle, &alpha, p->w, ps.b, p->y, ps.a, p->conv,
      (cudnnConvolutionBwdDataAlgo_t)p->bwd_data.algo, ps.ws,
      p->bwd_data.workspace, &ps.beta, p->x, ps.out));
  return finish(__func__, p, &ps, dx, nx, accumulate);
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
    if (pick(__func__, perf, count, tensor_math(&p->key), &p->bwd_filter))
      return 1;
  }
  CONV_SIZES;
  Pass ps;
  if (begin(__func__, p, p->bwd_filter.workspace, x, nx, dy, ny, dw, nw,
            accumulate, &ps))
    return 1;
  ADV_CUDNN(cudnnSetConvolutionMathType(p->conv, p->bwd_filter.math));
  const float alpha = 1;
  ADV_CUDNN(cudnnConvolutionBackwardFilter(
      handle, &alpha, p->x, ps.a, p->y, ps.b, p->conv,
      (cudnnConvolutionBwdFilterAlgo_t)p->bwd_filter.algo, ps.ws,
      p->bwd_filter.workspace, &ps.beta, p->w, ps.out));
  return finish(__func__, p, &ps, dw, nw, accumulate);
}
