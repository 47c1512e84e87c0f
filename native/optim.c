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
  ADV_CHECK_POS(count);
  ADV_CHECK_PTR(ptrs);
  ADV_CHECK_PTR(sizes);
  ADV_CHECK(beta1 >= 0 && beta1 < 1, "argument 'beta1' must be in [0, 1), got %g",
            (double)beta1);
  ADV_CHECK(beta2 >= 0 && beta2 < 1, "argument 'beta2' must be in [0, 1), got %g",
            (double)beta2);
  ADV_CHECK(bc1 > 0 && bc1 <= 1, "argument 'bc1' must be in (0, 1], got %g",
            (double)bc1);
  ADV_CHECK(bc2 > 0 && bc2 <= 1, "argument 'bc2' must be in (0, 1], got %g",
            (double)bc2);
  ADV_CHECK(eps >= 0, "argument 'eps' must be >= 0, got %g", (double)eps);
  for (int t = 0; t < count; t++) {
    ADV_CHECK(sizes[t] > 0, "tensor %d: size must be > 0, got %d", t, sizes[t]);
    for (int j = 0; j < 4; j++)
      ADV_CHECK(ptrs[4 * t + j] != 0, "tensor %d: pointer %d (p, g, m, v) is NULL", t, j);
  }
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
