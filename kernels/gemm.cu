/* GEMM goes to cuBLAS. TF32 tensor-core math is allowed or not by the
 * handle's math mode (adv_cuda_set_tf32 in runtime.cu). */
#include "common.cuh"

/* C = alpha op(A) op(B) + beta C, row-major, as the CPU's adv_gemm. cuBLAS is
 * column-major, and a row-major matrix read column-major is its transpose,
 * so we ask for C^T = op(B)^T op(A)^T: swap the operands and m with n. */
ADV_API int adv_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha,
                     const real *a, int lda, const real *b, int ldb, real beta,
                     real *c, int ldc) {
  ADV_REQUIRE_CUDA();
  if (adv_check_gemm(__func__, trans_a, trans_b, m, n, k, a, lda, b, ldb, c,
                     ldc))
    return 1;
  ADV_CUBLAS(cublasSgemm(adv_cuda_cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha,
                         b, ldb, a, lda, &beta, c, ldc));
  return 0;
}
