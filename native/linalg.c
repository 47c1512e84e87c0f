/* Dense linear algebra beyond GEMM: the symmetric eigendecomposition behind
 * ZCA whitening, through LAPACK's divide-and-conquer driver (dsyevd_, which
 * OpenBLAS contains). There is no lapacke.h here, so the Fortran prototype is
 * declared by hand, with gfortran's hidden lengths of the two character
 * arguments. The decomposition runs in double whatever `real` is: the small
 * eigenvalues of a covariance matter to whitening and float32 loses them. */
#include <stddef.h>
#include <stdlib.h>

#include "common.h"

extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
                    const int *lda, double *w, double *work, const int *lwork,
                    int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);

int adv_sym_eig(real *a, real *w, int n) {
  ADV_CHECK_PTR(a);
  ADV_CHECK_PTR(w);
  ADV_CHECK_POS(n);
  ADV_CHECK(n <= 46340, "n = %d is too large (n * n must fit in an int)", n);
  int64_t nn = (int64_t)n * n;
  double *d = malloc((size_t)nn * sizeof(double));
  double *ev = malloc((size_t)n * sizeof(double));
  if (!d || !ev) {
    free(d);
    free(ev);
    return adv_fail(__func__, "out of memory for a %d x %d matrix", n, n);
  }
  for (int64_t i = 0; i < nn; i++) d[i] = (double)a[i];
  /* Row-major and column-major views of a symmetric matrix agree; take the
   * lower triangle of the column-major view (the upper of the row-major). */
  int lwork = -1, liwork = -1, info = 0, iwq = 0;
  double wq = 0.0;
  dsyevd_("V", "L", &n, d, &n, ev, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
  if (info != 0) {
    free(d);
    free(ev);
    return adv_fail(__func__, "workspace query failed (info %d)", info);
  }
  lwork = (int)wq;
  liwork = iwq;
  double *work = malloc((size_t)lwork * sizeof(double));
  int *iwork = malloc((size_t)liwork * sizeof(int));
  if (!work || !iwork) {
    free(d);
    free(ev);
    free(work);
    free(iwork);
    return adv_fail(__func__, "out of memory for the workspace (n = %d)", n);
  }
  dsyevd_("V", "L", &n, d, &n, ev, work, &lwork, iwork, &liwork, &info, 1, 1);
  free(work);
  free(iwork);
  if (info != 0) {
    free(d);
    free(ev);
    return adv_fail(__func__, "dsyevd did not converge (info %d)", info);
  }
  /* Column i of the column-major result is eigenvector i: row i row-major. */
  for (int64_t i = 0; i < nn; i++) a[i] = (real)d[i];
  for (int i = 0; i < n; i++) w[i] = (real)ev[i];
  free(d);
  free(ev);
  return 0;
}
