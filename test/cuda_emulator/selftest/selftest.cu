/* Self-test of the CUDA emulator: `./run.sh` builds it and checks that good
 * kernels give the right answers and bad ones are caught. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__device__ float block_sum(float v) {
  __shared__ float scratch[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x >> 5) ? scratch[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void sum_kernel(const float *x, float *out, int n) {
  float acc = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) acc += x[i];
  float s = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

__global__ void scan_down_kernel(int *out) {
  int v = threadIdx.x;
  int d = __shfl_down_sync(0xffffffffu, v, 3);
  int u = __shfl_up_sync(0xffffffffu, v, 2);
  int b = __shfl_sync(0xffffffffu, v, 5);
  unsigned bal = __ballot_sync(0xffffffffu, v & 1);
  out[4 * threadIdx.x] = d;
  out[4 * threadIdx.x + 1] = u;
  out[4 * threadIdx.x + 2] = b;
  out[4 * threadIdx.x + 3] = (int)bal;
}

/* bugs */
__global__ void early_exit_shuffle(float *out, int n) {
  if ((int)threadIdx.x >= n) return; /* lanes >= n leave, the rest shuffle */
  float v = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  out[threadIdx.x] = v;
}
__global__ void early_exit_sync(float *out, int n) {
  if ((int)threadIdx.x >= n) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void oob_write(float *out, int n) { out[n + threadIdx.x] = 1; }
__global__ void racy_shared(float *out) {
  __shared__ float s[256];
  s[threadIdx.x] = (float)threadIdx.x;
  /* missing __syncthreads */
  out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}
__global__ void uninit_shared(float *out) {
  __shared__ float s[64];
  if (threadIdx.x < 32) s[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x]; /* half never written */
}
__global__ void divergent_sync(float *out) {
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 0;
}
__global__ void deadlock_kernel(float *out) {
  if (threadIdx.x == 0) {
    float v = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    out[0] = v;
  } else {
    __syncthreads();
  }
}
__global__ void nop_kernel(float *out) { (void)out; }
static __device__ int g_counts[64];
__global__ void device_global_overflow(int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) g_counts[i] = i;
}

static void check(bool ok, const char *what) {
  printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok) exit(1);
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "good";
  float *d = NULL, *o = NULL;
  int n = 100000;
  cudaMalloc(&d, n * sizeof(float));
  cudaMalloc(&o, 4096 * sizeof(float));
  if (!strcmp(which, "good")) {
    float *h = (float *)malloc(n * sizeof(float));
    double want = 0;
    for (int i = 0; i < n; i++) want += (h[i] = (float)(i % 7) - 3.0f);
    cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice);
    sum_kernel<<<64, 256>>>(d, o, n);
    float part[64];
    cudaMemcpy(part, o, sizeof part, cudaMemcpyDeviceToHost);
    double got = 0;
    for (int i = 0; i < 64; i++) got += part[i];
    check(got == want, "block sums");
    int *io = (int *)o;
    scan_down_kernel<<<1, 32>>>(io);
    int r[128];
    cudaMemcpy(r, io, sizeof r, cudaMemcpyDeviceToHost);
    bool ok = true;
    for (int l = 0; l < 32; l++) {
      ok &= r[4 * l] == (l + 3 < 32 ? l + 3 : l);
      ok &= r[4 * l + 1] == (l >= 2 ? l - 2 : l);
      ok &= r[4 * l + 2] == 5;
      ok &= (unsigned)r[4 * l + 3] == 0xaaaaaaaau;
    }
    check(ok, "shfl_down, shfl_up, shfl, ballot");
    nop_kernel<<<1, 1025>>>(o);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "1025 threads: invalid configuration");
    check(cudaGetLastError() == cudaSuccess, "the error is cleared");
    nop_kernel<<<0, 32>>>(o);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "0 blocks: invalid configuration");
    /* queued work runs at a sync: a pinned download is not done before */
    float *pin = NULL;
    cudaHostAlloc(&pin, 4 * sizeof(float), 0);
    pin[0] = -1;
    float one = 7;
    cudaMemcpyAsync(d, &one, sizeof one, cudaMemcpyHostToDevice, 0);
    cudaMemcpyAsync(pin, d, sizeof one, cudaMemcpyDeviceToHost, 0);
    cudaEvent_t e;
    cudaEventCreate(&e);
    cudaEventRecord(e, 0);
    check(pin[0] == -1 && cudaEventQuery(e) == cudaErrorNotReady, "async copies wait in the queue");
    cudaEventSynchronize(e);
    check(pin[0] == 7 && cudaEventQuery(e) == cudaSuccess, "and run at the sync");
    void *big[16];
    int got_oom = -1;
    for (int i = 0; i < 16; i++)
      if (cudaMalloc(&big[i], (size_t)8 << 30) != cudaSuccess) { got_oom = i; break; }
    check(got_oom == 7, "64 GiB cap: the 8th 8 GiB allocation fails");
    cudaGetLastError();
    for (int i = 0; i < got_oom; i++) cudaFree(big[i]);
    racy_shared<<<1, 256>>>(o);
    float rr[256];
    cudaMemcpy(rr, o, sizeof rr, cudaMemcpyDeviceToHost);
    printf("racy_shared out[0] = %g (1 when thread 1 ran first: depends on EMU_ORDER)\n", rr[0]);
    uninit_shared<<<1, 64>>>(o);
    cudaMemcpy(rr, o, 64 * sizeof(float), cudaMemcpyDeviceToHost);
    check(rr[0] == 1 && rr[40] != rr[40], "uninitialised shared memory reads NaN");
    device_global_overflow<<<1, 32>>>(64);
    int counts[64];
    cudaMemcpyFromSymbol(counts, g_counts, sizeof counts);
    check(counts[63] == 63, "__device__ arrays and cudaMemcpyFromSymbol");
    printf("good: all passed\n");
    return 0;
  }
  if (!strcmp(which, "early_exit_shuffle")) early_exit_shuffle<<<1, 32>>>(o, 20);
  if (!strcmp(which, "early_exit_sync")) early_exit_sync<<<1, 64>>>(o, 40);
  if (!strcmp(which, "oob")) oob_write<<<1, 32>>>(o, 4096);
  if (!strcmp(which, "divergent")) divergent_sync<<<1, 64>>>(o);
  if (!strcmp(which, "deadlock")) deadlock_kernel<<<1, 32>>>(o);
  if (!strcmp(which, "host_ptr")) {
    static float host[4];
    nop_kernel<<<1, 1>>>(host);
  }
  if (!strcmp(which, "use_after_free")) {
    cudaFree(d);
    nop_kernel<<<1, 1>>>(d);
  }
  if (!strcmp(which, "device_global")) device_global_overflow<<<1, 32>>>(65);
  if (!strcmp(which, "copy_overlap")) cudaMemcpyAsync(o + 1, o, 64, cudaMemcpyDeviceToDevice, 0);
  if (!strcmp(which, "copy_overflow")) {
    float h[8];
    cudaMemcpy(h, o + 4090, sizeof h, cudaMemcpyDeviceToHost);
  }
  cudaDeviceSynchronize();
  printf("%s: NOT CAUGHT\n", which);
  return 0;
}
