/*
 * Optimiser updates on the GPU: the twin of native/optim.c.
 *
 * Adam over a whole parameter list is one fused elementwise update per
 * tensor. A network has dozens of small tensors (biases, batch-norm
 * parameters), so launching a kernel per tensor would cost more than the
 * arithmetic; instead the tensors are cut into chunks of ADAM_CHUNK elements
 * and one launch covers up to ADAM_MAX_TENSORS tensors and ADAM_MAX_BLOCKS
 * chunks, one block per (tensor, chunk) pair, the pointers and the
 * block -> (tensor, chunk) map travelling in a struct passed by value as a
 * kernel argument (as apex's multi_tensor_apply). Elements are independent,
 * so there is nothing to reduce and results do not depend on the split.
 */
#include "common.cuh"

#define ADAM_MAX_TENSORS 36
#define ADAM_MAX_BLOCKS 320
#define ADAM_CHUNK 8192 /* elements per block */
#define ADAM_THREADS 256

/* One launch's share of the list. */
struct AdamList {
  real *p[ADAM_MAX_TENSORS];
  const real *g[ADAM_MAX_TENSORS];
  real *m[ADAM_MAX_TENSORS];
  real *v[ADAM_MAX_TENSORS];
  int size[ADAM_MAX_TENSORS];
  int block_chunk[ADAM_MAX_BLOCKS];            /* chunk of block b */
  unsigned char block_tensor[ADAM_MAX_BLOCKS]; /* slot of block b */
};

/* Kernel parameters were limited to 4 KB before CUDA 12.1; the list and the
 * scalars below must fit. */
static_assert(sizeof(AdamList) + 8 * sizeof(real) <= 4096,
              "AdamList too large for a kernel argument");
static_assert(ADAM_MAX_TENSORS <= 256, "block_tensor is an unsigned char");

/* Block b updates chunk block_chunk[b] of tensor block_tensor[b]:
 * g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= step m / (sqrt(v) rs + eps), with step = lr / bc1, rs = 1 / sqrt(bc2)
 * (the same float operations as the C code). */
static __global__ void adam_kernel(AdamList list, real step, real rs,
                                   real beta1, real beta2, real c1, real c2,
                                   real eps, real weight_decay) {
  const int t = list.block_tensor[blockIdx.x];
  const int64_t start = (int64_t)list.block_chunk[blockIdx.x] * ADAM_CHUNK;
  const int64_t end = min((int64_t)list.size[t], start + ADAM_CHUNK);
  real *pp = list.p[t], *mm = list.m[t], *vv = list.v[t];
  const real *gg = list.g[t];
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
    const real pi = pp[i];
    const real gi = gg[i] + weight_decay * pi;
    const real mi = beta1 * mm[i] + c1 * gi;
    const real vi = beta2 * vv[i] + c2 * gi * gi;
    mm[i] = mi;
    vv[i] = vi;
    pp[i] = pi - step * mi / (sqrtf(vi) * rs + eps);
  }
}

/* Adam as torch.optim.Adam: g += wd p (L2, not AdamW); m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr (m / bc1) / (sqrt(v / bc2) + eps), where
 * bc1 = 1 - b1^t and bc2 = 1 - b2^t come from the caller, which knows t.
 * ptrs and sizes are host arrays; the addresses in ptrs are device memory.
 * Within a tensor p, g, m and v must be distinct buffers. */
ADV_API int adv_adam_step(int count, const int64_t *ptrs, const int *sizes,
                          real lr, real beta1, real beta2, real eps, real bc1,
                          real bc2, real weight_decay) {
  ADV_REQUIRE_CUDA();
  if (adv_check_adam_step(__func__, count, ptrs, sizes, beta1, beta2, eps, bc1,
                          bc2))
    return 1;
  /* folding the corrections into two scalars keeps one divide and one
   * square root per element, as in C */
  const real step = lr / bc1, rs = (real)(1.0 / sqrt((double)bc2));
  const real c1 = 1 - beta1, c2 = 1 - beta2;
  cudaStream_t st = adv_cuda_stream();

  /* Fill slots and blocks; launch when either runs out or the list ends. A
   * tensor cut by a launch carries on in slot 0 of the next one. */
  AdamList list = {};
  int nt = 0, nb = 0;
  for (int t = 0; t < count; t++) {
    list.p[nt] = (real *)(intptr_t)ptrs[4 * t];
    list.g[nt] = (const real *)(intptr_t)ptrs[4 * t + 1];
    list.m[nt] = (real *)(intptr_t)ptrs[4 * t + 2];
    list.v[nt] = (real *)(intptr_t)ptrs[4 * t + 3];
    list.size[nt] = sizes[t];
    nt++;
    const int chunks = (int)(((int64_t)sizes[t] + ADAM_CHUNK - 1) / ADAM_CHUNK);
    for (int ch = 0; ch < chunks; ch++) {
      list.block_tensor[nb] = (unsigned char)(nt - 1);
      list.block_chunk[nb] = ch;
      nb++;
      const bool tensor_done = ch == chunks - 1;
      const bool slots_full = nt == ADAM_MAX_TENSORS && tensor_done;
      const bool blocks_full = nb == ADAM_MAX_BLOCKS;
      const bool last = t == count - 1 && tensor_done;
      if (!(slots_full || blocks_full || last)) continue;
      adam_kernel<<<nb, ADAM_THREADS, 0, st>>>(list, step, rs, beta1, beta2, c1,
                                               c2, eps, weight_decay);
      if (adv_cuda_launched(__func__)) return 1;
      nb = 0;
      if (tensor_done) {
        nt = 0;
      } else { /* the rest of tensor t goes on in slot 0 */
        list.p[0] = list.p[nt - 1];
        list.g[0] = list.g[nt - 1];
        list.m[0] = list.m[nt - 1];
        list.v[0] = list.v[nt - 1];
        list.size[0] = list.size[nt - 1];
        nt = 1;
      }
    }
  }
  return 0;
}
