/*
 * The CUDA runtime side of the backend: the device, its one stream, the
 * cuBLAS and cuDNN handles, device memory, host<->device copies, fill and
 * copy. Memory reuse is the TypeScript side's job (src/backend/backend.ts
 * caches blocks by size), so after the first training step nothing here
 * calls cudaMalloc; adv_cuda_malloc_count() lets a test check that.
 */
#include <stdio.h>
#include <string.h>

#include "common.cuh"

static int g_ready = 0;
static int g_tf32 = 1;
static cudaStream_t g_stream = 0;
static cublasHandle_t g_cublas = 0;
static cudnnHandle_t g_cudnn = 0;
static long long g_mallocs = 0;

cudaStream_t adv_cuda_stream(void) { return g_stream; }
cublasHandle_t adv_cuda_cublas(void) { return g_cublas; }
cudnnHandle_t adv_cuda_cudnn(void) { return g_cudnn; }
int adv_cuda_tf32(void) { return g_tf32; }

/* bfloat16 convolutions and GEMMs (adv_set_precision); off at start. */
static int g_bf16 = 0;
int adv_cuda_bf16(void) { return g_bf16; }

int adv_cuda_fail(const char *fn, const char *what, cudaError_t e) {
  /* reported now: clear it, or the next launch check would report it again
   * as its own (sticky errors stay: every later call fails anyway) */
  cudaGetLastError();
  return adv_fail(fn, "%s failed: %s (%s)", what, cudaGetErrorName(e),
                  cudaGetErrorString(e));
}

int adv_cuda_require(const char *fn) {
  if (g_ready) return 0;
  return adv_fail(fn, "the CUDA backend is not initialised (adv_cuda_init "
                      "was not called or failed)");
}

int adv_cuda_launched(const char *fn) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? 0 : adv_cuda_fail(fn, "kernel launch", e);
}

ADV_API int adv_real_size(void) { return (int)sizeof(real); }

/* Number of CUDA devices, 0 when there is none or no driver. Never fails:
 * the reason there is none goes to adv_last_error(). */
ADV_API int adv_cuda_device_count(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    adv_cuda_fail(__func__, "cudaGetDeviceCount", e);
    cudaGetLastError(); /* not sticky: clear it */
    return 0;
  }
  return n;
}

/* Picks the device and makes the stream and the library handles. TF32 math
 * starts allowed. Calling it again is a no-op. */
ADV_API int adv_cuda_init(int device) {
  if (g_ready) return 0;
  int n = 0;
  ADV_CUDA(cudaGetDeviceCount(&n));
  ADV_CHECK(device >= 0 && device < n,
            "argument 'device' must be in [0, %d), got %d", n, device);
  ADV_CUDA(cudaSetDevice(device));
  ADV_CUDA(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  ADV_CUBLAS(cublasCreate(&g_cublas));
  ADV_CUBLAS(cublasSetStream(g_cublas, g_stream));
  ADV_CUDNN(cudnnCreate(&g_cudnn));
  ADV_CUDNN(cudnnSetStream(g_cudnn, g_stream));
  g_ready = 1;
  return adv_cuda_set_tf32(1);
}

/* Allows (1) or forbids (0) TF32 tensor-core math in GEMMs and convolutions:
 * faster, with about 1e-3 relative error instead of float32's 1e-7. */
ADV_API int adv_cuda_set_tf32(int on) {
  ADV_REQUIRE_CUDA();
  ADV_CHECK(on == 0 || on == 1, "argument 'on' must be 0 or 1, got %d", on);
  ADV_CUBLAS(cublasSetMathMode(g_cublas, on ? CUBLAS_TF32_TENSOR_OP_MATH
                                            : CUBLAS_PEDANTIC_MATH));
  g_tf32 = on;
  return 0;
}

/* The device's name into out (cap bytes, NUL-terminated) and its free and
 * total memory in bytes into mem[0], mem[1]. */
ADV_API int adv_cuda_device_info(char *out, int cap, int64_t *mem) {
  ADV_REQUIRE_CUDA();
  ADV_CHECK_PTR(out);
  ADV_CHECK_PTR(mem);
  ADV_CHECK_POS(cap);
  int device = 0;
  ADV_CUDA(cudaGetDevice(&device));
  cudaDeviceProp prop;
  ADV_CUDA(cudaGetDeviceProperties(&prop, device));
  snprintf(out, (size_t)cap, "%s", prop.name);
  size_t free_b = 0, total_b = 0;
  ADV_CUDA(cudaMemGetInfo(&free_b, &total_b));
  mem[0] = (int64_t)free_b;
  mem[1] = (int64_t)total_b;
  return 0;
}

/* How many times adv_alloc has called cudaMalloc. */
ADV_API int64_t adv_cuda_malloc_count(void) { return g_mallocs; }

/* Device memory, 256-byte aligned by cudaMalloc; NULL with the reason
 * recorded when the device is out of memory. */
ADV_API void *adv_alloc(int64_t bytes) {
  if (adv_cuda_require(__func__)) return NULL;
  if (adv_check_alloc(__func__, bytes)) return NULL;
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : (size_t)bytes);
  if (e != cudaSuccess) {
    cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    adv_fail(__func__,
             "out of device memory allocating %lld bytes (%s; %.1f MiB free "
             "of %.1f MiB)",
             (long long)bytes, cudaGetErrorName(e), free_b / 1048576.0,
             total_b / 1048576.0);
    return NULL;
  }
  g_mallocs++;
  return p;
}

ADV_API void adv_free(void *p) {
  if (p) cudaFree(p);
}

/* ---- scratch: device memory a call needs only while its kernels run ----
 * (per-row loss values, batch-norm constants, cuDNN's workspace). Calls are
 * queued in order on the one stream, so a later call may reuse the buffer an
 * earlier call's kernels still read; growing it waits for them first. It
 * never shrinks, so after the first steps no call allocates. */
static void *g_scratch = NULL;
static size_t g_scratch_cap = 0;

cudaError_t adv_cuda_scratch(size_t bytes, void **out) {
  if (bytes > g_scratch_cap) {
    if (g_scratch) {
      cudaError_t e = cudaStreamSynchronize(g_stream);
      if (e != cudaSuccess) return e;
      e = cudaFree(g_scratch);
      g_scratch = NULL;
      g_scratch_cap = 0;
      if (e != cudaSuccess) return e;
    }
    size_t cap = bytes < 65536 ? 65536 : bytes;
    cudaError_t e = cudaMalloc(&g_scratch, cap);
    if (e != cudaSuccess) {
      cudaGetLastError(); /* an allocation failure is not sticky: clear it */
      g_scratch = NULL;
      return e;
    }
    g_scratch_cap = cap;
  }
  *out = g_scratch;
  return cudaSuccess;
}

/* The GPU backend has no host threads to set; kept for the shared ABI. */
ADV_API int adv_set_num_threads(int n) {
  if (adv_check_set_num_threads(__func__, n)) return 1;
  return 0;
}

ADV_API int adv_get_num_threads(void) { return 1; }

/* Convolutions (cuDNN's BFLOAT16 config, conv.cu) and GEMMs (cuBLAS's
 * COMPUTE_32F_FAST_16BF, gemm.cu) in bfloat16 with float32 accumulation:
 * the tensor cores of compute capability 8.0 (Ampere) and later. */
ADV_API int adv_set_precision(int bf16) {
  if (bf16 != 0 && bf16 != 1)
    return adv_fail(__func__, "precision must be 0 (fp32) or 1 (bf16), got %d", bf16);
  /* VAT switches precision twice a step: the device is asked once */
  static int checked = 0;
  if (bf16 && !checked) {
    ADV_REQUIRE_CUDA();
    int device = 0;
    ADV_CUDA(cudaGetDevice(&device));
    cudaDeviceProp prop;
    ADV_CUDA(cudaGetDeviceProperties(&prop, device));
    if (prop.major < 8)
      return adv_fail(__func__,
                      "bf16 needs a GPU of compute capability 8.0 or later; "
                      "%s is %d.%d",
                      prop.name, prop.major, prop.minor);
    checked = 1;
  }
  g_bf16 = bf16;
  return 0;
}

ADV_API int adv_onednn_isa(void) { return 0; }

__global__ void fill_kernel(real *x, int64_t n, real value) {
  ADV_FOR(i, n) x[i] = value;
}

ADV_API int adv_fill(real *x, int n, real value) {
  ADV_REQUIRE_CUDA();
  if (adv_check_fill(__func__, x, n)) return 1;
  fill_kernel<<<adv_grid(n), ADV_BLOCK, 0, g_stream>>>(x, n, value);
  return adv_cuda_launched(__func__);
}

ADV_API int adv_copy(real *dst, const real *src, int n) {
  ADV_REQUIRE_CUDA();
  if (adv_check_copy(__func__, dst, src, n)) return 1;
  if (dst == src) return 0;
  ADV_CUDA(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(real),
                           cudaMemcpyDeviceToDevice, g_stream));
  return 0;
}

/* ---- host -> device: pinned staging buffers ----
 * An upload copies the host data into a pinned buffer and queues the DMA on
 * the stream, then returns: the copy of the next batch overlaps the kernels
 * still queued. A buffer is reused once the event recorded after its DMA has
 * fired. */
#define STAGING_SLOTS 8
static struct {
  void *host;
  size_t cap;
  cudaEvent_t done;
  int busy;
} g_staging[STAGING_SLOTS];
static int g_next_wait = 0;

static int free_slot(size_t bytes, int *slot) {
  int any = -1;
  for (int i = 0; i < STAGING_SLOTS; i++) {
    if (g_staging[i].busy) {
      cudaError_t q = cudaEventQuery(g_staging[i].done);
      if (q == cudaErrorNotReady) {
        /* the runtime records "not ready" as the last error too: clear it,
         * or the next launch check would fail with cudaErrorNotReady */
        cudaGetLastError();
        continue;
      }
      if (q != cudaSuccess) return adv_cuda_fail("adv_cuda_upload", "cudaEventQuery", q);
      g_staging[i].busy = 0;
    }
    if (g_staging[i].cap >= bytes) {
      *slot = i;
      return 0;
    }
    if (any < 0) any = i;
  }
  if (any < 0) { /* all in flight: wait for the oldest-used slot */
    any = g_next_wait;
    g_next_wait = (g_next_wait + 1) % STAGING_SLOTS;
    cudaError_t e = cudaEventSynchronize(g_staging[any].done);
    if (e != cudaSuccess) return adv_cuda_fail("adv_cuda_upload", "cudaEventSynchronize", e);
    g_staging[any].busy = 0;
    if (g_staging[any].cap >= bytes) {
      *slot = any;
      return 0;
    }
  }
  if (g_staging[any].host) {
    cudaError_t e = cudaFreeHost(g_staging[any].host);
    if (e != cudaSuccess) return adv_cuda_fail("adv_cuda_upload", "cudaFreeHost", e);
    g_staging[any].host = NULL;
    g_staging[any].cap = 0;
  }
  /* the event first: a slot with capacity must have one (it is recorded) */
  if (!g_staging[any].done) {
    cudaError_t e =
        cudaEventCreateWithFlags(&g_staging[any].done, cudaEventDisableTiming);
    if (e != cudaSuccess) {
      g_staging[any].done = NULL;
      return adv_cuda_fail("adv_cuda_upload", "cudaEventCreate", e);
    }
  }
  size_t cap = bytes < (1 << 20) ? (1 << 20) : bytes;
  cudaError_t e = cudaHostAlloc(&g_staging[any].host, cap, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    g_staging[any].host = NULL;
    return adv_cuda_fail("adv_cuda_upload", "cudaHostAlloc (pinned staging)", e);
  }
  g_staging[any].cap = cap;
  *slot = any;
  return 0;
}

/* Copies `bytes` of host memory to device memory `dst`, asynchronously. */
ADV_API int adv_cuda_upload(void *dst, const void *src, int64_t bytes) {
  ADV_REQUIRE_CUDA();
  ADV_CHECK_PTR(dst);
  ADV_CHECK_PTR(src);
  ADV_CHECK(bytes > 0, "argument 'bytes' must be > 0, got %lld", (long long)bytes);
  int slot = 0;
  if (free_slot((size_t)bytes, &slot)) return 1;
  memcpy(g_staging[slot].host, src, (size_t)bytes);
  ADV_CUDA(cudaMemcpyAsync(dst, g_staging[slot].host, (size_t)bytes,
                           cudaMemcpyHostToDevice, g_stream));
  ADV_CUDA(cudaEventRecord(g_staging[slot].done, g_stream));
  g_staging[slot].busy = 1;
  return 0;
}

/* Copies `bytes` of device memory `src` to host memory, after everything
 * queued before it; reports any error a queued kernel raised. */
ADV_API int adv_cuda_download(void *dst, const void *src, int64_t bytes) {
  ADV_REQUIRE_CUDA();
  ADV_CHECK_PTR(dst);
  ADV_CHECK_PTR(src);
  ADV_CHECK(bytes > 0, "argument 'bytes' must be > 0, got %lld", (long long)bytes);
  ADV_CUDA(cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToHost, g_stream));
  ADV_CUDA(cudaStreamSynchronize(g_stream));
  return 0;
}

/* Waits for everything queued; reports any error a queued kernel raised. */
ADV_API int adv_cuda_synchronize(void) {
  ADV_REQUIRE_CUDA();
  ADV_CUDA(cudaStreamSynchronize(g_stream));
  return 0;
}
