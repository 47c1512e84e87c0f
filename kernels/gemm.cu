/* GEMM goes to cuBLAS. TF32 tensor-core math is allowed or not by the
 * handle's math mode (adv_cuda_set_tf32 in runtime.cu); --precision bf16
 * asks for bfloat16 tensor-core math by the compute type. */
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
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (adv_cuda_bf16()) {
    /* float32 in and out; cuBLAS rounds A and B to bfloat16 and sums in
     * float32 (--precision bf16) */
    ADV_CUBLAS(cublasGemmEx(adv_cuda_cublas(), op_b, op_a, n, m, k, &alpha, b,
                            CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                            CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_16BF,
                            CUBLAS_GEMM_DEFAULT));
    return 0;
  }
  ADV_CUBLAS(cublasSgemm(adv_cuda_cublas(), op_b, op_a, n, m, k, &alpha, b, ldb,
                         a, lda, &beta, c, ldc));
  return 0;
}
