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
  ADV_CHECK_PTR(a);
  ADV_CHECK_PTR(b);
  ADV_CHECK_PTR(c);
  ADV_CHECK(trans_a == 0 || trans_a == 1,
            "argument 'trans_a' must be 0 or 1, got %d", trans_a);
  ADV_CHECK(trans_b == 0 || trans_b == 1,
            "argument 'trans_b' must be 0 or 1, got %d", trans_b);
  ADV_CHECK_POS(m);
  ADV_CHECK_POS(n);
  ADV_CHECK_POS(k);
  ADV_CHECK(lda >= (trans_a ? m : k), "argument 'lda' must be >= %d, got %d",
            trans_a ? m : k, lda);
  ADV_CHECK(ldb >= (trans_b ? k : n), "argument 'ldb' must be >= %d, got %d",
            trans_b ? k : n, ldb);
  ADV_CHECK(ldc >= n, "argument 'ldc' must be >= %d, got %d", n, ldc);
  ADV_CUBLAS(cublasSgemm(adv_cuda_cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha,
                         b, ldb, a, lda, &beta, c, ldc));
  return 0;
}
