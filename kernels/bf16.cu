/*
 * bfloat16 copies for --precision bf16 (adv_set_precision): cuDNN's bf16
 * convolutions read and write bf16 tensors (its BFLOAT16 config: x, w and y
 * in bf16, float accumulation), so conv.cu rounds its float32 operands into
 * scratch copies and widens the result back, adding it where the pass
 * accumulates. GEMMs need no copies: cuBLAS rounds float32 operands itself
 * (CUBLAS_COMPUTE_32F_FAST_16BF, gemm.cu).
 */
#include <cuda_bf16.h>

#include "common.cuh"

__global__ void to_bf16_kernel(const float *x, __nv_bfloat16 *y, int64_t n) {
  ADV_FOR(i, n) y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void from_bf16_kernel(const __nv_bfloat16 *x, float *y, int64_t n,
                                 int accumulate) {
  ADV_FOR(i, n) {
    float v = __bfloat162float(x[i]);
    y[i] = accumulate ? y[i] + v : v;
  }
}

int adv_cuda_to_bf16(const char *fn, const float *x, void *y, int64_t n) {
  to_bf16_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      x, (__nv_bfloat16 *)y, n);
  return adv_cuda_launched(fn);
}

int adv_cuda_from_bf16(const char *fn, const void *x, float *y, int64_t n,
                       int accumulate) {
  from_bf16_kernel<<<adv_grid(n), ADV_BLOCK, 0, adv_cuda_stream()>>>(
      (const __nv_bfloat16 *)x, y, n, accumulate);
  return adv_cuda_launched(fn);
}
