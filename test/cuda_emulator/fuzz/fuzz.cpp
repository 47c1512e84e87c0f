/*
 * Differential fuzzer: every shared kernel of native/advssl.h on random
 * arguments (shapes, strides, aliasing, accumulate flags, NULL optional
 * outputs, invalid arguments), on the CPU library and on the CUDA library
 * (here: the emulated one), comparing statuses, error messages, outputs (norm-
 * wise relative error, as the parity tests) and that inputs stay unchanged.
 *
 * Usage: fuzz CPU_LIB CUDA_LIB [ITERATIONS] [SEED] [FILTER]
 */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "advssl.h"
}

#define KERNELS(X)                                                             \
  X(adv_last_error) X(adv_alloc) X(adv_free) X(adv_fill) X(adv_copy)           \
  X(adv_bias_add) X(adv_bias_grad) X(adv_axpby) X(adv_affine) X(adv_mul)       \
  X(adv_broadcast_binary) X(adv_sum_to) X(adv_sum) X(adv_fill_from_scalar)     \
  X(adv_copy_rows) X(adv_act_forward) X(adv_act_backward)                      \
  X(adv_l2norm_forward) X(adv_l2norm_backward) X(adv_count_errors)             \
  X(adv_rand_uniform) X(adv_rand_normal) X(adv_dropout_forward)                \
  X(adv_maxpool_forward) X(adv_maxpool_backward)                               \
  X(adv_global_avgpool_forward) X(adv_global_avgpool_backward)                 \
  X(adv_batchnorm_forward_train) X(adv_batchnorm_forward_infer)                \
  X(adv_batchnorm_backward_train) X(adv_batchnorm_backward_infer)              \
  X(adv_softmax_forward) X(adv_softmax_backward)                               \
  X(adv_cross_entropy_forward) X(adv_cross_entropy_backward)                   \
  X(adv_kl_forward) X(adv_kl_backward) X(adv_sq_error_forward)                 \
  X(adv_sq_error_backward) X(adv_adam_step) X(adv_gemm)

struct Lib {
#define FIELD(n) decltype(&::n) n;
  KERNELS(FIELD)
#undef FIELD
  int (*adv_cuda_init)(int) = nullptr;
  int (*adv_cuda_upload)(void *, const void *, int64_t) = nullptr;
  int (*adv_cuda_download)(void *, const void *, int64_t) = nullptr;
  int (*adv_cuda_synchronize)(void) = nullptr;
  bool cuda = false;

  void open(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
      exit(2);
    }
#define LOAD(n)                                                                \
  n = (decltype(n))dlsym(h, #n);                                               \
  if (!n) {                                                                    \
    fprintf(stderr, "%s lacks %s\n", path, #n);                                \
    exit(2);                                                                   \
  }
    KERNELS(LOAD)
#undef LOAD
    adv_cuda_init = (decltype(adv_cuda_init))dlsym(h, "adv_cuda_init");
    if (adv_cuda_init) {
      cuda = true;
      adv_cuda_upload = (decltype(adv_cuda_upload))dlsym(h, "adv_cuda_upload");
      adv_cuda_download = (decltype(adv_cuda_download))dlsym(h, "adv_cuda_download");
      adv_cuda_synchronize = (decltype(adv_cuda_synchronize))dlsym(h, "adv_cuda_synchronize");
      if (adv_cuda_init(0)) {
        fprintf(stderr, "adv_cuda_init: %s\n", adv_last_error());
        exit(2);
      }
    }
  }
};

static Lib L[2]; /* 0: CPU, 1: CUDA */
static std::mt19937_64 rng;
static int failures = 0, checks = 0;
static std::string current; /* the case, for messages */

static int irand(int lo, int hi) { /* [lo, hi] */
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
static double urand(double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
static bool coin(double p = 0.5) { return urand(0, 1) < p; }

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "FAIL %s: ", current.c_str());
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  fflush(stdout);
  va_end(ap);
  failures++;
}

/* A buffer on both sides, same contents. */
struct Buf {
  int n = 0;
  std::vector<float> init;
  float *p[2] = {nullptr, nullptr};
};
static std::vector<Buf *> g_bufs;

static Buf *make(int n, std::function<float(int)> gen) {
  Buf *b = new Buf;
  b->n = n;
  b->init.resize(n);
  for (int i = 0; i < n; i++) b->init[i] = gen(i);
  for (int s = 0; s < 2; s++) {
    b->p[s] = (float *)L[s].adv_alloc((int64_t)n * 4);
    if (!b->p[s]) {
      fprintf(stderr, "alloc failed\n");
      exit(2);
    }
    if (L[s].cuda)
      L[s].adv_cuda_upload(b->p[s], b->init.data(), (int64_t)n * 4);
    else
      memcpy(b->p[s], b->init.data(), (size_t)n * 4);
  }
  g_bufs.push_back(b);
  return b;
}
static Buf *uniform(int n, double lo = -1, double hi = 1) {
  return make(n, [&](int) { return (float)urand(lo, hi); });
}
static std::vector<float> get(Buf *b, int s) {
  std::vector<float> v(b->n);
  if (L[s].cuda) {
    if (L[s].adv_cuda_download(v.data(), b->p[s], (int64_t)b->n * 4))
      report("download: %s", L[s].adv_last_error());
  } else {
    memcpy(v.data(), b->p[s], (size_t)b->n * 4);
  }
  return v;
}
static void release() {
  for (Buf *b : g_bufs) {
    L[0].adv_free(b->p[0]);
    L[1].adv_free(b->p[1]);
    delete b;
  }
  g_bufs.clear();
}
static float *P(Buf *b, int s) { return b ? b->p[s] : nullptr; }

/* Runs f on both sides; compares statuses and messages. Returns the
 * status (0 when both succeeded). */
static int both(std::function<int(Lib &, int)> f) {
  int st[2];
  std::string msg[2];
  for (int s = 0; s < 2; s++) {
    st[s] = f(L[s], s);
    msg[s] = st[s] ? L[s].adv_last_error() : "";
  }
  if (L[1].cuda) L[1].adv_cuda_synchronize();
  checks++;
  if (st[0] != st[1])
    report("status cpu %d (%s) vs cuda %d (%s)", st[0], msg[0].c_str(), st[1],
           msg[1].c_str());
  else if (msg[0] != msg[1])
    report("messages differ: cpu '%s' vs cuda '%s'", msg[0].c_str(),
           msg[1].c_str());
  return st[0] || st[1];
}

static void close(Buf *b, const char *what, double tol = 1e-5) {
  std::vector<float> a = get(b, 0), g = get(b, 1);
  checks++;
  double num = 0, den = 0;
  int first = -1;
  for (int i = 0; i < b->n; i++) {
    bool nan_a = a[i] != a[i], nan_g = g[i] != g[i];
    if (nan_a != nan_g) {
      report("%s: element %d is %g on the CPU, %g on CUDA", what, i, a[i], g[i]);
      return;
    }
    if (nan_a) continue;
    if (std::isinf(a[i]) || std::isinf(g[i])) {
      if (a[i] != g[i]) {
        report("%s: element %d is %g on the CPU, %g on CUDA", what, i, a[i], g[i]);
        return;
      }
      continue;
    }
    double d = (double)g[i] - a[i];
    if (d != 0 && first < 0) first = i;
    num += d * d;
    den += (double)a[i] * a[i];
  }
  if (sqrt(num / std::max(1, b->n)) < 1e-7) return;
  double err = den == 0 ? INFINITY : sqrt(num / den);
  if (err > tol) {
    report("%s: relative error %.3g (first difference at %d: cpu %.9g cuda %.9g, n %d)",
           what, err, first, a[first], g[first], b->n);
    return;
  }
  /* element by element too: a norm hides one wrong element in a million */
  double rms = sqrt(den / std::max(1, b->n));
  for (int i = 0; i < b->n; i++) {
    if (a[i] != a[i] || std::isinf(a[i])) continue;
    double d = fabs((double)g[i] - a[i]);
    if (d > 1e-7 && d > 50 * tol * std::max((double)fabs(a[i]), rms)) {
      report("%s: element %d: cpu %.9g cuda %.9g (rms %.3g, n %d)", what, i, a[i], g[i], rms,
             b->n);
      return;
    }
  }
}
static void exact(Buf *b, const char *what) {
  std::vector<float> a = get(b, 0), g = get(b, 1);
  checks++;
  for (int i = 0; i < b->n; i++)
    if (memcmp(&a[i], &g[i], 4)) {
      report("%s: element %d is %.9g on the CPU, %.9g on CUDA (bits differ)", what,
             i, a[i], g[i]);
      return;
    }
}
/* Inputs must be left as they were: refresh() records them. */
static void refresh(Buf *b) { b->init = get(b, 0); }
static void unchanged(Buf *b, const char *what) {
  for (int s = 0; s < 2; s++) {
    std::vector<float> v = get(b, s);
    if (memcmp(v.data(), b->init.data(), (size_t)b->n * 4)) {
      report("%s: input changed on the %s", what, s ? "CUDA side" : "CPU");
      return;
    }
  }
}

static char buf_name[512];
#define CASE(...)                                                              \
  do {                                                                         \
    snprintf(buf_name, sizeof buf_name, __VA_ARGS__);                          \
    current = buf_name;                                                        \
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "case: %s\n", buf_name);      \
  } while (0)

/* A size: mostly small, sometimes odd, sometimes large. */
static int size(int small = 64, int large = 5000) {
  double r = urand(0, 1);
  if (r < 0.15) return 1;
  if (r < 0.75) return irand(1, small);
  return irand(small, large);
}

/* ---- cases ---- */

static void t_elementwise() {
  int n = coin(0.05) ? irand(100000, 3000000) : size(300, 100000);
  float a = (float)urand(-2, 2), b = coin(0.3) ? 0.0f : (float)urand(-2, 2);
  int acc = irand(0, 1);
  CASE("elementwise n=%d a=%g b=%g acc=%d", n, a, b, acc);
  Buf *x = uniform(n), *y = uniform(n), *z = uniform(n);
  both([&](Lib &l, int s) { return l.adv_axpby(P(y, s), a, P(x, s), b, n); });
  close(y, "axpby y");
  unchanged(x, "axpby x");
  both([&](Lib &l, int s) { return l.adv_axpby(P(x, s), a, P(x, s), b, n); });
  close(x, "axpby in place");
  both([&](Lib &l, int s) { return l.adv_affine(P(z, s), P(y, s), a, b, n); });
  close(z, "affine");
  both([&](Lib &l, int s) { return l.adv_mul(P(z, s), P(x, s), P(y, s), n, acc); });
  close(z, "mul");
  both([&](Lib &l, int s) { return l.adv_mul(P(x, s), P(x, s), P(y, s), n, acc); });
  close(x, "mul aliased");
  both([&](Lib &l, int s) { return l.adv_fill(P(z, s), n, a); });
  close(z, "fill");
  both([&](Lib &l, int s) { return l.adv_copy(P(z, s), P(y, s), n); });
  close(z, "copy");
  Buf *g = uniform(1);
  both([&](Lib &l, int s) { return l.adv_fill_from_scalar(P(z, s), P(g, s), a, n, acc); });
  close(z, "fill_from_scalar");
  Buf *out = uniform(1);
  both([&](Lib &l, int s) { return l.adv_sum(P(out, s), P(x, s), n, a); });
  close(out, "sum");
  for (int kind = 0; kind < 4; kind++) {
    Buf *ya = uniform(n), *dx = uniform(n), *dy = uniform(n);
    both([&](Lib &l, int s) { return l.adv_act_forward(kind, a, P(x, s), P(ya, s), n); });
    close(ya, "act_forward");
    both([&](Lib &l, int s) {
      return l.adv_act_backward(kind, a, kind <= 1 ? P(x, s) : nullptr,
                                kind >= 2 ? P(ya, s) : nullptr, P(dy, s), P(dx, s), n, acc);
    });
    close(dx, "act_backward");
    both([&](Lib &l, int s) {
      return l.adv_act_backward(kind, a, P(x, s), P(ya, s), P(dy, s), P(dy, s), n, acc);
    });
    close(dy, "act_backward in place");
  }
  /* invalid arguments: the same messages */
  both([&](Lib &l, int s) { return l.adv_axpby(P(y, s), a, P(x, s), b, 0); });
  both([&](Lib &l, int s) { return l.adv_act_forward(7, a, P(x, s), P(y, s), n); });
  both([&](Lib &l, int s) { return l.adv_sum(nullptr, P(x, s), n, a); });
}

static void t_bias() {
  int n = size(40, 300), c = size(70, 700), s = coin(0.4) ? 1 : size(40, 300);
  if ((int64_t)n * c * s > 4000000) s = 1;
  int acc = irand(0, 1);
  CASE("bias n=%d c=%d s=%d acc=%d", n, c, s, acc);
  int total = n * c * s;
  Buf *x = uniform(total), *b = uniform(c), *y = uniform(total), *db = uniform(c);
  both([&](Lib &l, int t) { return l.adv_bias_add(P(y, t), P(x, t), P(b, t), n, c, s); });
  close(y, "bias_add");
  both([&](Lib &l, int t) { return l.adv_bias_add(P(x, t), P(x, t), P(b, t), n, c, s); });
  close(x, "bias_add in place");
  refresh(y);
  both([&](Lib &l, int t) { return l.adv_bias_grad(P(db, t), P(y, t), n, c, s, acc); });
  close(db, "bias_grad");
  unchanged(y, "bias_grad dy");
}

/* A dense layout of `shape` with a random order of dimensions. */
static std::vector<int> layout(const std::vector<int> &shape, bool permute) {
  int nd = (int)shape.size();
  std::vector<int> order(nd), strides(nd);
  for (int i = 0; i < nd; i++) order[i] = i;
  if (permute) std::shuffle(order.begin(), order.end(), rng);
  int st = 1;
  for (int i = nd - 1; i >= 0; i--) {
    strides[order[i]] = st;
    st *= shape[order[i]];
  }
  return strides;
}
static int64_t prod(const std::vector<int> &v) {
  int64_t p = 1;
  for (int x : v) p *= x;
  return p;
}

static void t_broadcast() {
  int nd = irand(0, 8);
  std::vector<int> shape(nd);
  for (;;) {
    for (int &d : shape) d = coin(0.3) ? 1 : irand(1, nd > 5 ? 3 : 9);
    if (prod(shape) <= 300000) break;
  }
  if (coin(0.1) && nd > 0) shape[irand(0, nd - 1)] = irand(1000, 20000);
  if (prod(shape) > 3000000) return;
  std::vector<int> sa(shape), sb(shape);
  for (int d = 0; d < nd; d++) {
    if (coin(0.35)) sa[d] = 1;
    else if (coin(0.35)) sb[d] = 1;
  }
  bool perm = coin(0.3);
  std::vector<int> sta = layout(sa, perm), stb = layout(sb, coin(0.3));
  for (int d = 0; d < nd; d++) {
    /* a broadcast dimension has stride 0; one of size 1 may have any */
    if (sa[d] == 1 && (shape[d] != 1 || coin(0.8))) sta[d] = 0;
    if (sb[d] == 1 && (shape[d] != 1 || coin(0.8))) stb[d] = 0;
  }
  int op = irand(0, 3), acc = irand(0, 1);
  std::string sh;
  for (int d = 0; d < nd; d++)
    sh += std::to_string(shape[d]) + "(" + std::to_string(sta[d]) + "," + std::to_string(stb[d]) + ") ";
  CASE("broadcast op=%d shape %s acc=%d", op, sh.c_str(), acc);
  int total = (int)prod(shape);
  Buf *a = uniform((int)prod(sa)), *b = uniform((int)prod(sb), 0.5, 2), *out = uniform(total);
  both([&](Lib &l, int s) {
    return l.adv_broadcast_binary(op, P(out, s), shape.data(), nd, P(a, s), sta.data(), P(b, s),
                                  stb.data());
  });
  close(out, "broadcast_binary");
  unchanged(a, "broadcast a");
  /* sum_to: out (+)= in summed to a's shape, through a's strides */
  refresh(out);
  std::vector<int> ost(nd);
  for (int d = 0; d < nd; d++) ost[d] = sa[d] == 1 ? 0 : sta[d];
  both([&](Lib &l, int s) {
    return l.adv_sum_to(P(a, s), ost.data(), P(out, s), shape.data(), nd, acc);
  });
  close(a, "sum_to");
  unchanged(out, "sum_to in");
  if (nd > 0) {
    std::vector<int> bad(shape);
    bad[irand(0, nd - 1)] = 0;
    both([&](Lib &l, int s) {
      return l.adv_broadcast_binary(op, P(out, s), bad.data(), nd, P(a, s), sta.data(), P(b, s),
                                    stb.data());
    });
  }
}

/* sum_to with the innermost dimension kept and more than 65536 * 32
 * outputs: blocks of sum_to_inner_kept_kernel loop over several chunks. */
static void t_sum_to_large() {
  int len = irand(2100000, 2400000), rows = irand(2, 17), acc = irand(0, 1);
  CASE("sum_to large rows=%d len=%d acc=%d", rows, len, acc);
  std::vector<int> shape = {rows, len}, ost = {0, 1};
  Buf *in = uniform(rows * len), *out = uniform(len);
  both([&](Lib &l, int s) { return l.adv_sum_to(P(out, s), ost.data(), P(in, s), shape.data(), 2, acc); });
  close(out, "sum_to large");
}

static void t_rows() {
  int rows = size(100, 3000), len = size(60, 500);
  int ds = len + (coin() ? 0 : irand(0, 50)), ss = len + (coin() ? 0 : irand(0, 50));
  int acc = irand(0, 1);
  CASE("copy_rows rows=%d len=%d ds=%d ss=%d acc=%d", rows, len, ds, ss, acc);
  Buf *d = uniform(rows * ds), *s = uniform(rows * ss);
  both([&](Lib &l, int t) { return l.adv_copy_rows(P(d, t), ds, P(s, t), ss, rows, len, acc); });
  close(d, "copy_rows");
  both([&](Lib &l, int t) { return l.adv_copy_rows(P(d, t), len - 1, P(s, t), ss, rows, len, acc); });
}

static void t_l2norm() {
  int n = size(200, 3000), d = size(100, 4000);
  if ((int64_t)n * d > 3000000) n = 3000000 / d;
  float eps = coin() ? 0.0f : (float)urand(1e-8, 1e-2);
  int acc = irand(0, 1);
  CASE("l2norm n=%d d=%d eps=%g acc=%d", n, d, eps, acc);
  Buf *x = uniform(n * d), *y = uniform(n * d), *dy = uniform(n * d), *dx = uniform(n * d);
  both([&](Lib &l, int s) { return l.adv_l2norm_forward(P(x, s), P(y, s), n, d, eps); });
  close(y, "l2norm_forward");
  both([&](Lib &l, int s) { return l.adv_l2norm_backward(P(x, s), P(dy, s), P(dx, s), n, d, eps, acc); });
  close(dx, "l2norm_backward");
  both([&](Lib &l, int s) { return l.adv_l2norm_forward(P(x, s), P(x, s), n, d, eps); });
  close(x, "l2norm_forward in place");
}

static void t_count() {
  int n = size(300, 20000), k = size(20, 300);
  if ((int64_t)n * k > 3000000) n = 3000000 / k;
  int bad = coin(0.3) ? irand(0, n - 1) : -1;
  CASE("count_errors n=%d k=%d bad=%d", n, k, bad);
  Buf *logits = make(n * k, [&](int) { return (float)irand(0, 5); }); /* ties */
  float badv = coin() ? (float)k : coin() ? 0.5f : coin() ? -1.0f : NAN;
  Buf *labels = make(n, [&](int i) { return i == bad ? badv : (float)irand(0, k - 1); });
  Buf *out = uniform(1);
  both([&](Lib &l, int s) { return l.adv_count_errors(P(out, s), P(logits, s), P(labels, s), n, k); });
  close(out, "count_errors");
}

static void t_rng() {
  int n = size(100, 300000);
  uint64_t seed = rng(), offset = coin(0.2) ? (uint64_t)rng() : (uint64_t)irand(0, 1000);
  float lo = (float)urand(-3, 1), hi = lo + (coin(0.1) ? 0 : (float)urand(0, 4));
  float p = coin(0.2) ? 0.0f : (float)urand(0, 0.99);
  CASE("rng n=%d seed=%llu offset=%llu lo=%g hi=%g p=%g", n, (unsigned long long)seed,
       (unsigned long long)offset, lo, hi, p);
  Buf *u = uniform(n), *x = uniform(n), *y = uniform(n), *m = uniform(n);
  both([&](Lib &l, int s) { return l.adv_rand_uniform(P(u, s), n, lo, hi, seed, offset); });
  exact(u, "rand_uniform");
  both([&](Lib &l, int s) { return l.adv_rand_normal(P(u, s), n, lo, hi - lo, seed, offset); });
  close(u, "rand_normal", 1e-6);
  both([&](Lib &l, int s) { return l.adv_dropout_forward(P(x, s), P(y, s), P(m, s), n, p, seed, offset); });
  exact(m, "dropout mask");
  exact(y, "dropout y");
  both([&](Lib &l, int s) { return l.adv_dropout_forward(P(x, s), P(x, s), P(m, s), n, p, seed, offset); });
  exact(x, "dropout in place");
  both([&](Lib &l, int s) { return l.adv_rand_uniform(P(u, s), n, hi + 1, lo, seed, offset); });
  both([&](Lib &l, int s) { return l.adv_dropout_forward(P(x, s), P(y, s), P(m, s), n, 1.0f, seed, offset); });
}

static void t_pool() {
  int n = irand(1, 5), c = irand(1, 9), h = irand(1, 20), w = irand(1, 20);
  int kh = irand(1, 4), kw = irand(1, 4), sh = irand(1, 3), sw = irand(1, 3);
  int ph = irand(0, kh - 1), pw = irand(0, kw - 1);
  if (h + 2 * ph < kh || w + 2 * pw < kw) return;
  int oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  int acc = irand(0, 1);
  bool ties = coin(0.3);
  CASE("maxpool n=%d c=%d %dx%d k%dx%d s%dx%d p%dx%d ties=%d acc=%d", n, c, h, w, kh, kw, sh, sw,
       ph, pw, ties, acc);
  Buf *x = make(n * c * h * w, [&](int) {
    return ties ? (float)irand(0, 3) : coin(0.01) ? NAN : (float)urand(-1, 1);
  });
  Buf *y = uniform(n * c * oh * ow), *dy = uniform(n * c * oh * ow), *dx = uniform(n * c * h * w);
  both([&](Lib &l, int s) {
    return l.adv_maxpool_forward(P(x, s), P(y, s), n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
  });
  close(y, "maxpool_forward");
  both([&](Lib &l, int s) {
    return l.adv_maxpool_backward(P(x, s), P(dy, s), P(dx, s), n, c, h, w, kh, kw, sh, sw, ph, pw,
                                  oh, ow, acc);
  });
  close(dx, "maxpool_backward");
  both([&](Lib &l, int s) {
    return l.adv_maxpool_forward(P(x, s), P(y, s), n, c, h, w, kh, kw, sh, sw, kh, pw, oh, ow);
  });
  both([&](Lib &l, int s) {
    return l.adv_maxpool_forward(P(x, s), P(y, s), n, c, h, w, kh, kw, sh, sw, ph, pw, oh + 1, ow);
  });
  int nc = size(300, 5000), sz = size(50, 2000);
  if ((int64_t)nc * sz > 3000000) nc = 3000000 / sz;
  CASE("global_avgpool nc=%d s=%d acc=%d", nc, sz, acc);
  Buf *gx = uniform(nc * sz), *gy = uniform(nc), *gdx = uniform(nc * sz);
  both([&](Lib &l, int s) { return l.adv_global_avgpool_forward(P(gx, s), P(gy, s), nc, sz); });
  close(gy, "global_avgpool_forward");
  both([&](Lib &l, int s) { return l.adv_global_avgpool_backward(P(gy, s), P(gdx, s), nc, sz, acc); });
  close(gdx, "global_avgpool_backward");
}

static void t_bn() {
  int n = size(64, 300), c = size(40, 300), s = coin(0.4) ? 1 : size(40, 1100);
  if ((int64_t)n * c * s > 3000000) s = 1;
  if ((int64_t)n * s < 2) n = 2;
  int update = irand(0, 1), accd = irand(0, 1), accp = irand(0, 1);
  float momentum = (float)urand(0, 1), eps = (float)urand(1e-6, 1e-3);
  double shift = coin(0.2) ? urand(-50, 50) : 0; /* |mean| >> std */
  CASE("batchnorm n=%d c=%d s=%d update=%d accd=%d accp=%d shift=%g", n, c, s, update, accd, accp,
       shift);
  int total = n * c * s;
  Buf *x = make(total, [&](int) { return (float)(shift + urand(-2, 2)); });
  Buf *gamma = uniform(c, 0.5, 1.5), *beta = uniform(c), *y = uniform(total);
  Buf *sm = uniform(c), *si = uniform(c), *rm = uniform(c, -0.5, 0.5), *rv = uniform(c, 0.5, 1.5);
  both([&](Lib &l, int t) {
    return l.adv_batchnorm_forward_train(P(x, t), P(gamma, t), P(beta, t), P(y, t), P(sm, t),
                                         P(si, t), update ? P(rm, t) : nullptr,
                                         update ? P(rv, t) : nullptr, n, c, s, momentum, eps, update);
  });
  close(y, "bn_forward_train y");
  close(sm, "bn save_mean");
  close(si, "bn save_invstd");
  close(rm, "bn running_mean");
  close(rv, "bn running_var");
  Buf *dy = uniform(total), *dx = uniform(total), *dg = uniform(c), *db = uniform(c);
  bool wdx = coin(0.8), wdg = coin(0.8), wdb = coin(0.8);
  both([&](Lib &l, int t) {
    return l.adv_batchnorm_backward_train(P(x, t), P(gamma, t), P(sm, t), P(si, t), P(dy, t),
                                          wdx ? P(dx, t) : nullptr, wdg ? P(dg, t) : nullptr,
                                          wdb ? P(db, t) : nullptr, n, c, s, accd, accp);
  });
  /* with 2 values a channel's dx is 0 up to eps: cancellation */
  close(dx, "bn_backward_train dx", (int64_t)n * s <= 4 ? 1e-3 : 1e-5);
  close(dg, "bn_backward_train dgamma");
  close(db, "bn_backward_train dbeta");
  both([&](Lib &l, int t) {
    return l.adv_batchnorm_forward_infer(P(x, t), P(gamma, t), P(beta, t), P(rm, t), P(rv, t),
                                         P(y, t), n, c, s, eps);
  });
  close(y, "bn_forward_infer");
  both([&](Lib &l, int t) {
    return l.adv_batchnorm_backward_infer(P(x, t), P(gamma, t), P(rm, t), P(rv, t), P(dy, t),
                                          wdx ? P(dx, t) : nullptr, wdg ? P(dg, t) : nullptr,
                                          wdb ? P(db, t) : nullptr, n, c, s, eps, accd, accp);
  });
  close(dx, "bn_backward_infer dx");
  close(dg, "bn_backward_infer dgamma");
  close(db, "bn_backward_infer dbeta");
  unchanged(x, "bn x");
  both([&](Lib &l, int t) {
    return l.adv_batchnorm_forward_train(P(x, t), P(gamma, t), P(beta, t), P(y, t), P(sm, t),
                                         P(si, t), P(rm, t), P(rv, t), 1, c, 1, momentum, eps, 1);
  });
}

static void t_loss() {
  int n = size(300, 5000), k = size(40, 3000);
  if ((int64_t)n * k > 3000000) n = 3000000 / k;
  int acc = irand(0, 1), acc2 = irand(0, 1), lsm = irand(0, 1);
  CASE("loss n=%d k=%d acc=%d/%d log=%d", n, k, acc, acc2, lsm);
  Buf *x = uniform(n * k, -5, 5), *y = uniform(n * k), *dy = uniform(n * k), *dx = uniform(n * k);
  both([&](Lib &l, int s) { return l.adv_softmax_forward(P(x, s), P(y, s), n, k, lsm); });
  close(y, "softmax_forward");
  both([&](Lib &l, int s) { return l.adv_softmax_backward(P(y, s), P(dy, s), P(dx, s), n, k, lsm, acc); });
  close(dx, "softmax_backward");
  Buf *x2 = make(n * k, [&](int i) { return x->init[i]; });
  both([&](Lib &l, int s) { return l.adv_softmax_forward(P(x2, s), P(x2, s), n, k, lsm); });
  close(x2, "softmax_forward in place");
  Buf *labels = make(n, [&](int) { return (float)irand(0, k - 1); });
  Buf *loss = uniform(1), *lp = uniform(n * k), *g = uniform(1, 0.5, 2);
  both([&](Lib &l, int s) { return l.adv_cross_entropy_forward(P(x, s), P(labels, s), P(loss, s), P(lp, s), n, k); });
  close(loss, "cross_entropy loss");
  close(lp, "cross_entropy logp");
  both([&](Lib &l, int s) { return l.adv_cross_entropy_backward(P(lp, s), P(labels, s), P(g, s), P(dx, s), n, k, acc); });
  close(dx, "cross_entropy_backward");
  Buf *x3 = make(n * k, [&](int i) { return x->init[i]; });
  both([&](Lib &l, int s) { return l.adv_cross_entropy_forward(P(x3, s), P(labels, s), P(loss, s), P(x3, s), n, k); });
  close(loss, "cross_entropy loss in place");
  close(x3, "cross_entropy logp in place");
  Buf *b = uniform(n * k, -5, 5), *la = uniform(n * k), *lb = uniform(n * k), *db = uniform(n * k);
  both([&](Lib &l, int s) { return l.adv_kl_forward(P(x, s), P(b, s), P(loss, s), P(la, s), P(lb, s), n, k); });
  close(loss, "kl loss", 1e-4);
  close(la, "kl loga");
  close(lb, "kl logb");
  bool wa = coin(0.8), wb = coin(0.8);
  both([&](Lib &l, int s) {
    return l.adv_kl_backward(P(la, s), P(lb, s), P(g, s), wa ? P(dx, s) : nullptr,
                             wb ? P(db, s) : nullptr, n, k, acc, acc2);
  });
  close(dx, "kl_backward da");
  close(db, "kl_backward db");
  int m = n * k;
  float scale = (float)urand(0.1, 2);
  both([&](Lib &l, int s) { return l.adv_sq_error_forward(P(x, s), P(b, s), P(loss, s), m, scale); });
  close(loss, "sq_error loss");
  both([&](Lib &l, int s) {
    return l.adv_sq_error_backward(P(x, s), P(b, s), P(g, s), wa ? P(dx, s) : nullptr,
                                   wb ? P(db, s) : nullptr, m, scale, acc, acc2);
  });
  close(dx, "sq_error_backward da");
  close(db, "sq_error_backward db");
}

static void t_adam() {
  int count = irand(1, 120);
  std::vector<int> sizes(count);
  for (int &s : sizes) s = coin(0.1) ? irand(8000, 100000) : size(100, 9000);
  float lr = (float)urand(1e-4, 1e-1), b1 = (float)urand(0, 0.99), b2 = (float)urand(0.9, 0.9999);
  float eps = (float)urand(1e-8, 1e-6), bc1 = (float)urand(0.01, 1), bc2 = (float)urand(0.001, 1);
  float wd = coin() ? 0.0f : (float)urand(0, 1e-2);
  CASE("adam count=%d", count);
  std::vector<Buf *> bufs;
  std::vector<int64_t> ptrs[2];
  for (int t = 0; t < count; t++) {
    for (int j = 0; j < 4; j++) {
      Buf *b = j == 3 ? uniform(sizes[t], 0, 1) : uniform(sizes[t]);
      bufs.push_back(b);
      for (int s = 0; s < 2; s++) ptrs[s].push_back((int64_t)(intptr_t)b->p[s]);
    }
  }
  both([&](Lib &l, int s) {
    return l.adv_adam_step(count, ptrs[s].data(), sizes.data(), lr, b1, b2, eps, bc1, bc2, wd);
  });
  for (int t = 0; t < count; t++) {
    /* 1e-5: nvcc fuses the moment updates into FMAs, and a step of up to
     * lr / bc1 = 10 may nearly cancel p */
    close(bufs[4 * t], "adam p", 1e-5);
    close(bufs[4 * t + 2], "adam m", 1e-6);
    close(bufs[4 * t + 3], "adam v", 1e-6);
    unchanged(bufs[4 * t + 1], "adam g");
  }
  both([&](Lib &l, int s) {
    return l.adv_adam_step(count, ptrs[s].data(), sizes.data(), lr, 1.0f, b2, eps, bc1, bc2, wd);
  });
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fuzz CPU_LIB CUDA_LIB [ITERATIONS] [SEED] [FILTER]\n");
    return 2;
  }
  L[0].open(argv[1]);
  L[1].open(argv[2]);
  int iters = argc > 3 ? atoi(argv[3]) : 20;
  rng.seed(argc > 4 ? strtoull(argv[4], 0, 10) : 1);
  const char *filter = argc > 5 ? argv[5] : "";
  struct T {
    const char *name;
    void (*fn)();
  } tests[] = {{"elementwise", t_elementwise}, {"bias", t_bias}, {"broadcast", t_broadcast},
               {"sum_to_large", t_sum_to_large},
               {"rows", t_rows},               {"l2norm", t_l2norm}, {"count", t_count},
               {"rng", t_rng},                 {"pool", t_pool}, {"bn", t_bn},
               {"loss", t_loss},               {"adam", t_adam}};
  for (auto &t : tests) {
    if (*filter && !strstr(t.name, filter)) continue;
    int before = failures;
    /* the large case is slow under emulation: once per run */
    int n = strstr(t.name, "large") ? 1 : iters;
    for (int i = 0; i < n; i++) {
      t.fn();
      release();
    }
    printf("%-12s %s\n", t.name, failures == before ? "ok" : "FAILED");
    fflush(stdout);
  }
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
