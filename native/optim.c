/* Optimiser updates. */
#include "common.h"
#include "realmath.h"

/* Adam as torch.optim.Adam: g += wd p (L2, not AdamW); m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr (m / bc1) / (sqrt(v / bc2) + eps), where
 * bc1 = 1 - b1^t and bc2 = 1 - b2^t come from the caller, which knows t.
 * One call updates a whole parameter list; within a tensor p, g, m and v
 * must be distinct buffers. */
int adv_adam_step(int count, const int64_t *ptrs, const int *sizes, real lr,
                  real beta1, real beta2, real eps, real bc1, real bc2,
                  real weight_decay) {
  if (adv_check_adam_step(__func__, count, ptrs, sizes, beta1, beta2, eps, bc1,
                          bc2))
    return 1;
  /* folding the corrections into two scalars keeps one divide and one
   * square root per element: (m / bc1) / (sqrt(v / bc2) + eps) =
   * step * m / (sqrt(v) * rs + eps) with step = 1 / bc1, rs = 1/sqrt(bc2) */
  real step = lr / bc1, rs = (real)(1.0 / sqrt((double)bc2));
  real c1 = 1 - beta1, c2 = 1 - beta2;
  for (int t = 0; t < count; t++) {
    real *restrict pp = (real *)(intptr_t)ptrs[4 * t];
    const real *restrict gg = (const real *)(intptr_t)ptrs[4 * t + 1];
    real *restrict mm = (real *)(intptr_t)ptrs[4 * t + 2];
    real *restrict vv = (real *)(intptr_t)ptrs[4 * t + 3];
    int n = sizes[t];
#pragma omp parallel for if (n > ADV_PARALLEL_MIN) schedule(static)
    for (int i = 0; i < n; i++) {
      real gi = gg[i] + weight_decay * pp[i];
      real mi = beta1 * mm[i] + c1 * gi;
      real vi = beta2 * vv[i] + c2 * gi * gi;
      mm[i] = mi;
      vv[i] = vi;
      pp[i] -= step * mi / (R_SQRT(vi) * rs + eps);
    }
  }
  return 0;
}
