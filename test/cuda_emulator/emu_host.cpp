/*
 * The GEMM and the convolutions of the emulated library: native/gemm.c and
 * native/conv.c (the CPU code, renamed adv_cpu_* by objcopy) stand in for
 * cuBLAS and cuDNN. "Device" memory is host memory here, so they run as they
 * are, after everything queued before them (cuBLAS and cuDNN would run in
 * stream order), on pointers that must be device memory.
 */
#include "common.cuh"

namespace emu {
void require_device(const char *fn, const char *what, const void *p);
}

// The renamed CPU versions have the ABI's signatures, declared once in advssl.h.
extern "C" {
decltype(adv_gemm) adv_cpu_gemm;
decltype(adv_conv2d_forward) adv_cpu_conv2d_forward;
decltype(adv_conv2d_backward_data) adv_cpu_conv2d_backward_data;
decltype(adv_conv2d_backward_filter) adv_cpu_conv2d_backward_filter;
}

#define DEV(p) emu::require_device(__func__, #p, p)

ADV_API int adv_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha,
                     const real *a, int lda, const real *b, int ldb, real beta,
                     real *c, int ldc) {
  ADV_REQUIRE_CUDA();
  DEV(a);
  DEV(b);
  DEV(c);
  emu::sync_all();
  return adv_cpu_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                      ldc);
}

ADV_API int adv_conv2d_forward(const real *x, const real *w, real *y, int n,
                               int c, int h, int wd, int k, int kh, int kw,
                               int sh, int sw, int ph, int pw, int oh, int ow) {
  ADV_REQUIRE_CUDA();
  DEV(x);
  DEV(w);
  DEV(y);
  emu::sync_all();
  return adv_cpu_conv2d_forward(x, w, y, n, c, h, wd, k, kh, kw, sh, sw, ph, pw,
                                oh, ow);
}

ADV_API int adv_conv2d_backward_data(const real *dy, const real *w, real *dx,
                                     int n, int c, int h, int wd, int k, int kh,
                                     int kw, int sh, int sw, int ph, int pw,
                                     int oh, int ow, int accumulate) {
  ADV_REQUIRE_CUDA();
  DEV(dy);
  DEV(w);
  DEV(dx);
  emu::sync_all();
  return adv_cpu_conv2d_backward_data(dy, w, dx, n, c, h, wd, k, kh, kw, sh, sw,
                                      ph, pw, oh, ow, accumulate);
}

ADV_API int adv_conv2d_backward_filter(const real *x, const real *dy, real *dw,
                                       int n, int c, int h, int wd, int k,
                                       int kh, int kw, int sh, int sw, int ph,
                                       int pw, int oh, int ow, int accumulate) {
  ADV_REQUIRE_CUDA();
  DEV(x);
  DEV(dy);
  DEV(dw);
  emu::sync_all();
  return adv_cpu_conv2d_backward_filter(x, dy, dw, n, c, h, wd, k, kh, kw, sh,
                                        sw, ph, pw, oh, ow, accumulate);
}
