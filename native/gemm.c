/* GEMM goes to OpenBLAS: nothing we could write by hand comes close. */
#include <cblas.h>

#include "common.h"

/* C = alpha op(A) op(B) + beta C, row-major; op(A) is m x k, op(B) k x n.
 * As in BLAS, beta == 0 overwrites C without reading it. */
int adv_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha,
             const real *a, int lda, const real *b, int ldb, real beta,
             real *c, int ldc) {
  if (adv_check_gemm(__func__, trans_a, trans_b, m, n, k, a, lda, b, ldb, c,
                     ldc))
    return 1;
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef ADV_DOUBLE
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
#else
#ifdef ADV_DNNL
  if (adv_dnnl_bf16())
    return adv_dnnl_gemm_bf16(__func__, trans_a, trans_b, m, n, k, alpha, a,
                              lda, b, ldb, beta, c, ldc);
#endif
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
#endif
  return 0;
}
