/* GEMM goes to OpenBLAS: nothing we could write by hand comes close. */
#include <cblas.h>

#include "common.h"

/* C = alpha op(A) op(B) + beta C, row-major; op(A) is m x k, op(B) k x n.
 * As in BLAS, beta == 0 overwrites C without reading it. */
int adv_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha,
             const real *a, int lda, const real *b, int ldb, real beta,
             real *c, int ldc) {
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
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef ADV_DOUBLE
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
#else
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
#endif
  return 0;
}
