/*
 * cuda_emu.h: a CPU emulator of the parts of the CUDA programming model that
 * advssl's kernels/ use. It stands in for cuda_runtime.h, cublas_v2.h and
 * cudnn.h (include/ holds three one-line headers that include this one) when
 * the .cu files, rewritten by preprocess.py, are compiled with g++.
 *
 * Model (details in emu_runtime.cpp):
 * - a launch copies its arguments and is queued on the one emulated stream;
 *   the queue runs at synchronising calls (stream/event sync, blocking
 *   copies, cudaFree), as a GPU would finish it by then;
 * - blocks run one after another; the threads of a block are fibers on one
 *   OS thread, switching only at __syncthreads and warp collectives
 *   (shuffles, __syncwarp), which are real barriers; by default each warp
 *   runs up to the next __syncthreads before the next warp starts (EMU_SCHED,
 *   EMU_ORDER); a barrier that a thread (or lane) left early, divergent
 *   barriers, or a deadlock abort with a message;
 * - __shared__ is `static` (one block at a time), poisoned with 0xFF bytes
 *   at the start of every block;
 * - device memory is host memory from mmap, with guard pages after (and
 *   before) every allocation, poisoned with 0xFF bytes (NaN), a 64 GiB cap.
 */
#ifndef ADVSSL_CUDA_EMU_H
#define ADVSSL_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- qualifiers ---- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)

/* ---- vector types ---- */
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

static constexpr int warpSize = 32;

/* ---- runtime types ---- */
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
typedef enum cudaError_t cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostAllocWriteCombined 0x04

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int multiProcessorCount;
  int major, minor;
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);

cudaError_t cudaMalloc(void **p, size_t bytes);
template <typename T>
static inline cudaError_t cudaMalloc(T **p, size_t bytes) {
  return cudaMalloc((void **)p, bytes);
}
cudaError_t cudaFree(void *p);
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags);
template <typename T>
static inline cudaError_t cudaHostAlloc(T **p, size_t bytes,
                                        unsigned int flags) {
  return cudaHostAlloc((void **)p, bytes, flags);
}
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                            cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes,
                            cudaStream_t stream = 0);
cudaError_t cudaMemset(void *dst, int value, size_t bytes);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventSynchronize(cudaEvent_t e);

namespace emu {
/* Copies between a __device__ variable and host memory (the symbol is host
 * memory here; checks the range and the direction). */
cudaError_t memcpy_symbol(void *dst, const void *src, size_t bytes,
                          cudaMemcpyKind kind, cudaStream_t s, bool to_symbol,
                          const void *symbol, size_t symbol_size,
                          size_t offset, bool async);
} // namespace emu

template <typename T>
static inline cudaError_t
cudaMemcpyFromSymbolAsync(void *dst, const T &symbol, size_t count,
                          size_t offset = 0,
                          cudaMemcpyKind kind = cudaMemcpyDeviceToHost,
                          cudaStream_t stream = 0) {
  return emu::memcpy_symbol(dst, (const char *)&symbol + offset, count, kind,
                            stream, false, &symbol, sizeof(T), offset, true);
}
template <typename T>
static inline cudaError_t
cudaMemcpyFromSymbol(void *dst, const T &symbol, size_t count,
                     size_t offset = 0,
                     cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  return emu::memcpy_symbol(dst, (const char *)&symbol + offset, count, kind,
                            0, false, &symbol, sizeof(T), offset, false);
}
template <typename T>
static inline cudaError_t
cudaMemcpyToSymbolAsync(const T &symbol, const void *src, size_t count,
                        size_t offset = 0,
                        cudaMemcpyKind kind = cudaMemcpyHostToDevice,
                        cudaStream_t stream = 0) {
  return emu::memcpy_symbol((char *)&symbol + offset, src, count, kind, stream,
                            true, &symbol, sizeof(T), offset, true);
}
template <typename T>
static inline cudaError_t
cudaMemcpyToSymbol(const T &symbol, const void *src, size_t count,
                   size_t offset = 0,
                   cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
  return emu::memcpy_symbol((char *)&symbol + offset, src, count, kind, 0, true,
                            &symbol, sizeof(T), offset, false);
}

/* ---- cuBLAS and cuDNN: handles only (GEMM and convolutions come from the
 * CPU code in the emulated build) ---- */
typedef struct cublasContext *cublasHandle_t;
typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
} cublasStatus_t;
typedef enum {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_TENSOR_OP_MATH = 1,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3,
} cublasMath_t;
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode);
const char *cublasGetStatusName(cublasStatus_t s);
const char *cublasGetStatusString(cublasStatus_t s);

typedef struct cudnnContext *cudnnHandle_t;
typedef enum {
  CUDNN_STATUS_SUCCESS = 0,
  CUDNN_STATUS_NOT_INITIALIZED = 1001,
  CUDNN_STATUS_BAD_PARAM = 2000,
} cudnnStatus_t;
cudnnStatus_t cudnnCreate(cudnnHandle_t *h);
cudnnStatus_t cudnnDestroy(cudnnHandle_t h);
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s);
const char *cudnnGetErrorString(cudnnStatus_t s);

/* ---- the emulator's thread state ---- */
namespace emu {
struct Thread {
  uint3 idx;         /* threadIdx */
  unsigned lane;     /* linear thread index % 32 */
  unsigned warp;     /* linear thread index / 32 */
  unsigned linear;   /* linear thread index */
  int state;         /* see emu_runtime.cpp */
  const char *file;  /* where it waits */
  int line;
  unsigned mask;     /* the mask it waits with (warp collectives) */
  unsigned gen;      /* the warp generation it waits for */
  void *sp;          /* saved stack pointer */
  void *stack_lo;    /* its stack: [stack_lo, stack_hi) */
  void *stack_hi;
};
extern thread_local Thread *cur;
extern thread_local uint3 block_idx;
extern thread_local dim3 block_dim, grid_dim;

void syncthreads(const char *file, int line);
/* Every lane of mask (which must hold the caller) stores v and waits for
 * the others; returns the 32 values of the warp. */
const uint64_t *warp_exchange(unsigned mask, uint64_t v, const char *what,
                              const char *file, int line);
/* Marks a __shared__ variable; the first thread of a block to reach its
 * declaration poisons it (shared memory starts as garbage on a GPU). */
void shared_decl(void *p, size_t bytes);
/* Storage of a __device__ variable (preprocess.py rewrites its definition
 * into a reference to this). */
void *device_global(size_t bytes, const char *name);
template <typename T> static inline T &device_var(const char *name) {
  return *static_cast<T *>(device_global(sizeof(T), name));
}
/* Runs everything queued (for the host-side GEMM and convolution). */
void sync_all();
[[noreturn]] void fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

template <typename T> static inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "shuffles move at most 8 bytes");
  uint64_t b = 0;
  memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T> static inline T from_bits(uint64_t b) {
  T v;
  memcpy(&v, &b, sizeof(T));
  return v;
}
static inline void check_width(int width, const char *what, const char *file,
                               int line) {
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fail("%s at %s:%d: width %d is not a power of 2 in [1, 32]", what, file,
         line, width);
}
static inline void check_source(unsigned mask, unsigned src, const char *what,
                                const char *file, int line) {
  if (!(mask >> src & 1u))
    fail("%s at %s:%d: lane %u reads lane %u, which is not in mask 0x%08x "
         "(the result is undefined)",
         what, file, line, cur->lane, src, mask);
}

template <typename T>
static inline T shfl_xor(const char *file, int line, unsigned mask, T v,
                         int lane_mask, int width = 32) {
  check_width(width, "__shfl_xor_sync", file, line);
  const uint64_t *all =
      warp_exchange(mask, to_bits(v), "__shfl_xor_sync", file, line);
  unsigned lane = cur->lane;
  unsigned src = lane ^ (unsigned)lane_mask;
  /* a source outside this lane's width-segment reads the lane itself */
  if ((src & ~(unsigned)(width - 1)) != (lane & ~(unsigned)(width - 1)))
    src = lane;
  check_source(mask, src, "__shfl_xor_sync", file, line);
  return from_bits<T>(all[src]);
}
template <typename T>
static inline T shfl_down(const char *file, int line, unsigned mask, T v,
                          unsigned delta, int width = 32) {
  check_width(width, "__shfl_down_sync", file, line);
  const uint64_t *all =
      warp_exchange(mask, to_bits(v), "__shfl_down_sync", file, line);
  unsigned lane = cur->lane, seg = lane & ~(unsigned)(width - 1);
  unsigned src = lane + delta;
  if (src >= seg + (unsigned)width) src = lane;
  check_source(mask, src, "__shfl_down_sync", file, line);
  return from_bits<T>(all[src]);
}
template <typename T>
static inline T shfl_up(const char *file, int line, unsigned mask, T v,
                        unsigned delta, int width = 32) {
  check_width(width, "__shfl_up_sync", file, line);
  const uint64_t *all =
      warp_exchange(mask, to_bits(v), "__shfl_up_sync", file, line);
  unsigned lane = cur->lane, seg = lane & ~(unsigned)(width - 1);
  unsigned src = lane - delta;
  if (delta > lane - seg) src = lane;
  check_source(mask, src, "__shfl_up_sync", file, line);
  return from_bits<T>(all[src]);
}
template <typename T>
static inline T shfl(const char *file, int line, unsigned mask, T v,
                     int src_lane, int width = 32) {
  check_width(width, "__shfl_sync", file, line);
  const uint64_t *all =
      warp_exchange(mask, to_bits(v), "__shfl_sync", file, line);
  unsigned seg = cur->lane & ~(unsigned)(width - 1);
  unsigned src = seg + ((unsigned)src_lane & (unsigned)(width - 1));
  check_source(mask, src, "__shfl_sync", file, line);
  return from_bits<T>(all[src]);
}
static inline unsigned ballot(const char *file, int line, unsigned mask,
                              int pred) {
  const uint64_t *all =
      warp_exchange(mask, pred ? 1 : 0, "__ballot_sync", file, line);
  unsigned r = 0;
  for (unsigned l = 0; l < 32; l++)
    if ((mask >> l & 1u) && all[l]) r |= 1u << l;
  return r;
}
static inline void syncwarp(const char *file, int line,
                            unsigned mask = 0xffffffffu) {
  warp_exchange(mask, 0, "__syncwarp", file, line);
}

/* ---- launches ---- */
struct Launch;
/* Queues a launch: checks the configuration (an invalid one sets the last
 * error and runs nothing), then runs `invoke(args)` in every thread. */
void enqueue_launch(const char *name, const char *file, int line, dim3 grid,
                    dim3 block, size_t shmem, cudaStream_t stream,
                    void (*invoke)(void *), void *args,
                    void (*destroy)(void *), const void *const *ptrs,
                    int nptrs);

template <typename T> static inline const void *ptr_arg(const T &v) {
  if constexpr (std::is_pointer<T>::value &&
                !std::is_function<std::remove_pointer_t<T>>::value)
    return (const void *)v;
  else
    return nullptr;
}

template <typename... P, typename... A>
static void launch(const char *name, const char *file, int line, dim3 grid,
                   dim3 block, size_t shmem, cudaStream_t stream,
                   void (*kernel)(P...), A &&...args) {
  static_assert(sizeof...(P) == sizeof...(A),
                "kernel launched with the wrong number of arguments");
  struct Pack {
    void (*k)(P...);
    std::tuple<std::decay_t<P>...> args;
  };
  /* arguments are converted to the parameter types and copied now, as a
   * launch does */
  Pack *pack = new Pack{kernel, std::tuple<std::decay_t<P>...>(
                                    std::forward<A>(args)...)};
  const void *ptrs[sizeof...(P) + 1] = {};
  int i = 0;
  std::apply([&](const auto &...a) { ((ptrs[i++] = ptr_arg(a)), ...); },
             pack->args);
  enqueue_launch(
      name, file, line, grid, block, shmem, stream,
      [](void *p) {
        Pack *k = (Pack *)p;
        /* each thread gets its own copy of the parameters */
        std::apply(k->k, std::tuple<std::decay_t<P>...>(k->args));
      },
      pack, [](void *p) { delete (Pack *)p; }, ptrs, (int)sizeof...(P));
}
} // namespace emu

#define threadIdx (static_cast<const uint3 &>(::emu::cur->idx))
#define blockIdx (static_cast<const uint3 &>(::emu::block_idx))
#define blockDim (static_cast<const dim3 &>(::emu::block_dim))
#define gridDim (static_cast<const dim3 &>(::emu::grid_dim))

#define __syncthreads() ::emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::emu::syncwarp(__FILE__, __LINE__ __VA_OPT__(,) __VA_ARGS__)
#define __shfl_xor_sync(...) ::emu::shfl_xor(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::emu::shfl_down(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::emu::shfl_up(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_sync(...) ::emu::shfl(__FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(m, p) ::emu::ballot(__FILE__, __LINE__, m, p)
#define __any_sync(m, p) (::emu::ballot(__FILE__, __LINE__, m, p) != 0)
#define __all_sync(m, p) (::emu::ballot(__FILE__, __LINE__, m, p) == (m))
#define EMU_SHARED_DECL(v) ::emu::shared_decl((void *)&(v), sizeof(v))
#define EMU_LAUNCH(name, ...) ::emu::launch(#name, __FILE__, __LINE__, __VA_ARGS__)

/* ---- device math: host functions. The _rn intrinsics are opaque to the
 * compiler, so -ffp-contract=fast (which mimics nvcc's FMA contraction)
 * cannot fuse them, as on the GPU. ---- */
#define EMU_OPAQUE(r) __asm__("" : "+x"(r))
static inline float __fmul_rn(float a, float b) { float r = a * b; EMU_OPAQUE(r); return r; }
static inline float __fadd_rn(float a, float b) { float r = a + b; EMU_OPAQUE(r); return r; }
static inline float __fsub_rn(float a, float b) { float r = a - b; EMU_OPAQUE(r); return r; }
static inline float __fdiv_rn(float a, float b) { float r = a / b; EMU_OPAQUE(r); return r; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __frcp_rn(float a) { float r = 1.0f / a; EMU_OPAQUE(r); return r; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline double __dmul_rn(double a, double b) { double r = a * b; EMU_OPAQUE(r); return r; }
static inline double __dadd_rn(double a, double b) { double r = a + b; EMU_OPAQUE(r); return r; }
static inline double __dsub_rn(double a, double b) { double r = a - b; EMU_OPAQUE(r); return r; }
static inline double __ddiv_rn(double a, double b) { double r = a / b; EMU_OPAQUE(r); return r; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
static inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
static inline double rsqrt(double a) { return 1.0 / sqrt(a); }
/* __expf and __logf: glibc declares them (exp and log) */
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __saturatef(float a) { return a < 0.0f ? 0.0f : a > 1.0f ? 1.0f : a; }
static inline int __float_as_int(float a) { int r; memcpy(&r, &a, 4); return r; }
static inline float __int_as_float(int a) { float r; memcpy(&r, &a, 4); return r; }
static inline int __popc(unsigned a) { return __builtin_popcount(a); }
static inline int __clz(int a) { return a ? __builtin_clz((unsigned)a) : 32; }
static inline int __ffs(int a) { return __builtin_ffs(a); }
template <typename T> static inline T __ldg(const T *p) { return *p; }

/* CUDA's min and max: overloads over every arithmetic pair (the usual
 * conversions); on floating types they are fmin and fmax (NaN loses). */
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value &&
                                      std::is_arithmetic<B>::value>>
static inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point<C>::value)
    return std::fmin((C)a, (C)b);
  else
    return (C)a < (C)b ? (C)a : (C)b;
}
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value &&
                                      std::is_arithmetic<B>::value>>
static inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point<C>::value)
    return std::fmax((C)a, (C)b);
  else
    return (C)a < (C)b ? (C)b : (C)a;
}

#endif
