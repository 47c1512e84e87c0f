/*
 * Shared by every CUDA source: the native ABI (native/advssl.h, with real =
 * float), the argument checks and error slot of native/common.h, the one
 * stream every kernel runs on, and launch helpers.
 *
 * Each ABI entry point validates its arguments with its C twin's check
 * function (adv_check_*, native/shared.c), launches on adv_cuda_stream(), and returns adv_cuda_launched("name"), which
 * turns a failed launch into a status with the CUDA error's name. Errors of
 * kernels that fail while running surface at the next synchronising call
 * (adv_cuda_download, adv_cuda_synchronize), which reports them the same way.
 */
#ifndef ADVSSL_CUDA_COMMON_CUH
#define ADVSSL_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdint.h>

extern "C" {
#include "common.h"
}

/* Definitions of ABI functions: C linkage, exported. */
#define ADV_API extern "C" ADV_EXPORT

/* The CUDA library exports every ADV_KERNEL of native/advssl.h over device
 * pointers, and its own runtime (runtime.cu), declared in advssl_cuda.h. */
#include "advssl_cuda.h"

/* The stream every kernel, copy, cuBLAS and cuDNN call is queued on. */
cudaStream_t adv_cuda_stream(void);

/* 0 when the backend is initialised, else records "fn: ..." and returns 1. */
int adv_cuda_require(const char *fn);

/* Turns the status of the launch just made into ours ("fn: kernel launch
 * failed: cudaErrorX (text)"). */
int adv_cuda_launched(const char *fn);

/* At least `bytes` of device memory for the calling op's kernels, shared by
 * every op (runtime.cu says why that is safe); valid until the next call. */
cudaError_t adv_cuda_scratch(size_t bytes, void **out);

/* Records "fn: what failed: cudaErrorX (text)" and returns 1. */
int adv_cuda_fail(const char *fn, const char *what, cudaError_t e);

/* The cuBLAS and cuDNN handles, bound to adv_cuda_stream(). */
cublasHandle_t adv_cuda_cublas(void);
cudnnHandle_t adv_cuda_cudnn(void);
/* Whether TF32 tensor-core math is allowed (adv_cuda_set_tf32). */
int adv_cuda_tf32(void);
/* Whether convolutions and GEMMs compute in bfloat16 (adv_set_precision). */
int adv_cuda_bf16(void);

/* bfloat16 copies (bf16.cu): x rounded into y (n bf16 values, 2 bytes each);
 * x widened into y, added to y's values where `accumulate`. Status as
 * adv_cuda_launched(fn). */
int adv_cuda_to_bf16(const char *fn, const float *x, void *y, int64_t n);
int adv_cuda_from_bf16(const char *fn, const void *x, float *y, int64_t n,
                       int accumulate);

/* Evaluates a CUDA runtime call; on failure returns its error as a status. */
#define ADV_CUDA(call)                                                         \
  do {                                                                         \
    cudaError_t adv_e_ = (call);                                               \
    if (adv_e_ != cudaSuccess) return adv_cuda_fail(__func__, #call, adv_e_);  \
  } while (0)

#define ADV_CUBLAS(call)                                                       \
  do {                                                                         \
    cublasStatus_t adv_s_ = (call);                                            \
    if (adv_s_ != CUBLAS_STATUS_SUCCESS) {                                     \
      cudaGetLastError(); /* a CUDA error left by the library: reported */     \
      return adv_fail(__func__, "%s failed: %s", #call,                        \
                      cublasGetStatusName(adv_s_));                            \
    }                                                                          \
  } while (0)

#define ADV_CUDNN(call)                                                        \
  do {                                                                         \
    cudnnStatus_t adv_s_ = (call);                                             \
    if (adv_s_ != CUDNN_STATUS_SUCCESS) {                                      \
      cudaGetLastError(); /* a CUDA error left by the library: reported */     \
      return adv_fail(__func__, "%s failed: %s", #call,                        \
                      cudnnGetErrorString(adv_s_));                            \
    }                                                                          \
  } while (0)

#define ADV_REQUIRE_CUDA()                                                     \
  do {                                                                         \
    if (adv_cuda_require(__func__)) return 1;                                  \
  } while (0)

/* Threads per block for elementwise kernels and the grid that covers n
 * elements with grid-stride loops (capped: more blocks than the GPU can hold
 * at once only add scheduling). */
#define ADV_BLOCK 256
static inline int adv_grid(int64_t n) {
  int64_t blocks = (n + ADV_BLOCK - 1) / ADV_BLOCK;
  if (blocks > 65536) blocks = 65536;
  return blocks < 1 ? 1 : (int)blocks;
}

/* Grid-stride loop over [0, n) with 64-bit indices. */
#define ADV_FOR(i, n)                                                          \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);    \
       i += (int64_t)blockDim.x * gridDim.x)

/* Sum of v over a block of blockDim.x threads (a multiple of 32, at most
 * 1024), in a fixed order so results repeat run to run. Every thread gets the
 * total. `scratch` holds 32 values in shared memory. */
template <typename T>
__device__ inline T adv_block_sum(T v, T *scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads(); /* scratch may still be read from a previous call */
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  v = lane < warps ? scratch[lane] : T(0);
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* Maximum of v over a block, as adv_block_sum. */
template <typename T>
__device__ inline T adv_block_max(T v, T *scratch) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  v = lane < warps ? scratch[lane] : scratch[0];
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

#endif
