/*
 * The CUDA library's own runtime (kernels/runtime.cu), exported beside the
 * kernels of native/advssl.h; build.ts generates src/backend/abi.ts from
 * both headers. Buffers of int (shapes, strides) stay host memory.
 */
#ifndef ADVSSL_CUDA_H
#define ADVSSL_CUDA_H

#include "advssl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GPUs the driver shows (0 with the reason recorded when there is none). */
ADV_RUNTIME int adv_cuda_device_count(void);
/* Selects a GPU and creates the stream and the cuBLAS and cuDNN handles. */
ADV_RUNTIME int adv_cuda_init(int device);
/* Allows or forbids TF32 tensor-core math in GEMMs and convolutions. */
ADV_RUNTIME int adv_cuda_set_tf32(adv_flag on);
/* The GPU's name into out (cap bytes), free and total bytes into mem[0..1]. */
ADV_RUNTIME int adv_cuda_device_info(ADV_HOST char *out, int cap,
                                     ADV_HOST int64_t *mem);
/* How many times the library has called cudaMalloc for tensors. */
ADV_RUNTIME int64_t adv_cuda_malloc_count(void);
/* Host to device through pinned staging memory; returns before the copy ends.
 */
ADV_RUNTIME int adv_cuda_upload(void *dst, ADV_HOST const void *src,
                                int64_t bytes);
/* Device to host, after every queued kernel (reports their errors). */
ADV_RUNTIME int adv_cuda_download(ADV_HOST void *dst, const void *src,
                                  int64_t bytes);
/* Waits for every queued kernel and reports any error one raised. */
ADV_RUNTIME int adv_cuda_synchronize(void);

#ifdef __cplusplus
}
#endif

#endif
