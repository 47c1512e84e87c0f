/* Data kernels on host memory: bytes to reals (with the MAT files'
 * column-major image layout), and the batch gather with augmentation
 * (translation by zero padding and cropping, horizontal flip) that the data
 * worker runs for every batch. None of them is a training kernel: they feed
 * one. Single-threaded: the data worker runs beside the training step and
 * must not take its cores. */
#include <string.h>

#include "common.h"

int adv_bytes_to_real(real *out, const uint8_t *in, int rows, int len,
                      int in_stride, real scale, real shift) {
  ADV_CHECK_PTR(out);
  ADV_CHECK_PTR(in);
  ADV_CHECK_POS(rows);
  ADV_CHECK_POS(len);
  ADV_CHECK(in_stride >= len, "in_stride %d is shorter than a row (%d)",
            in_stride, len);
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *src = in + r * in_stride;
    real *dst = out + r * len;
    for (int j = 0; j < len; j++) dst[j] = (real)src[j] * scale + shift;
  }
  return 0;
}

int adv_bytes_colmajor_to_nchw(real *out, const uint8_t *in, int n, int c,
                               int h, int w, real scale, real shift) {
  ADV_CHECK_PTR(out);
  ADV_CHECK_PTR(in);
  ADV_CHECK_POS(n);
  ADV_CHECK_POS(c);
  ADV_CHECK_POS(h);
  ADV_CHECK_POS(w);
  int64_t plane = (int64_t)h * w;
  for (int64_t img = 0; img < n; img++) {
    for (int ch = 0; ch < c; ch++) {
      /* in: element (i, j, ch, img) at i + h * (j + w * (ch + c * img)) */
      const uint8_t *src = in + (img * c + ch) * plane;
      real *dst = out + (img * c + ch) * plane;
      for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
          dst[(int64_t)i * w + j] = (real)src[(int64_t)j * h + i] * scale + shift;
    }
  }
  return 0;
}

int adv_gather_augment(real *dst, const real *src, int src_rows,
                       const int *index, int n, int c, int h, int w,
                       const int *shift_x, const int *shift_y,
                       const int *flip) {
  ADV_CHECK_PTR(dst);
  ADV_CHECK_PTR(src);
  ADV_CHECK_PTR(index);
  ADV_CHECK_POS(src_rows);
  ADV_CHECK_POS(n);
  ADV_CHECK_POS(c);
  ADV_CHECK_POS(h);
  ADV_CHECK_POS(w);
  for (int b = 0; b < n; b++) {
    ADV_CHECK(index[b] >= 0 && index[b] < src_rows,
              "index[%d] = %d is outside [0, %d)", b, index[b], src_rows);
    if (shift_x)
      ADV_CHECK(shift_x[b] > -w && shift_x[b] < w,
                "shift_x[%d] = %d is not smaller than the width %d", b,
                shift_x[b], w);
    if (shift_y)
      ADV_CHECK(shift_y[b] > -h && shift_y[b] < h,
                "shift_y[%d] = %d is not smaller than the height %d", b,
                shift_y[b], h);
  }
  int64_t plane = (int64_t)h * w, row = (int64_t)c * plane;
  for (int b = 0; b < n; b++) {
    const real *img = src + (int64_t)index[b] * row;
    real *out = dst + (int64_t)b * row;
    int sx = shift_x ? shift_x[b] : 0, sy = shift_y ? shift_y[b] : 0;
    int fl = flip ? flip[b] != 0 : 0;
    if (sx == 0 && sy == 0 && !fl) {
      memcpy(out, img, (size_t)row * sizeof(real));
      continue;
    }
    /* out(y, x) = in(y + sy, x' + sx), x' = flip ? w - 1 - x : x; zero
     * outside: zero padding then a crop, then the flip. */
    for (int ch = 0; ch < c; ch++) {
      const real *ip = img + ch * plane;
      real *op = out + ch * plane;
      for (int y = 0; y < h; y++) {
        int ys = y + sy;
        real *orow = op + (int64_t)y * w;
        if (ys < 0 || ys >= h) {
          for (int x = 0; x < w; x++) orow[x] = 0;
          continue;
        }
        const real *irow = ip + (int64_t)ys * w;
        for (int x = 0; x < w; x++) {
          int xs = (fl ? w - 1 - x : x) + sx;
          orow[x] = xs >= 0 && xs < w ? irow[xs] : 0;
        }
      }
    }
  }
  return 0;
}
