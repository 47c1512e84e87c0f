/*
 * 2-D convolution through oneDNN, for float32 builds with ADV_DNNL: forward,
 * backward data and backward weights, with the contract of conv.c's im2col
 * kernels (which float64 builds keep: oneDNN has no double convolutions).
 *
 * One primitive per (pass, geometry), created on first use and cached, as the
 * CUDA backend caches its cuDNN plans. Its tensors take the layouts oneDNN
 * picks for the processor it finds (format "any"), so the caller's NCHW and
 * OIHW tensors are reordered in and out by reorder primitives cached beside
 * it; the blocked copies and the scratchpad the primitive asks for live in one
 * arena grown on demand. oneDNN runs on the same OpenMP threads as our own
 * kernels, and for a fixed thread count its results repeat bit for bit.
 *
 * A geometry oneDNN declines (status unimplemented) returns ADV_DNNL_DECLINED
 * and conv.c runs im2col for it; every other failure is an error naming the
 * oneDNN call and its status.
 */
#ifdef ADV_DNNL
#include <dnnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The geometry and pass a primitive serves. */
typedef struct {
  int pass, bf16, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow;
} Key;

/* For each pass: the two inputs and the output, in the order of the call's
 * arguments (forward: x, w -> y; backward data: dy, w -> dx; backward
 * weights: x, dy -> dw). */
typedef struct {
  int arg;                  /* DNNL_ARG_* of the primitive */
  dnnl_memory_desc_t user;  /* the caller's plain layout */
  dnnl_memory_desc_t prim;  /* the primitive's layout */
  dnnl_primitive_t reorder; /* user <-> prim, or NULL when they are equal */
  size_t bytes;             /* size in the primitive's layout */
} Slot;

typedef struct {
  Key key;
  dnnl_primitive_t prim; /* NULL: declined, use im2col */
  Slot io[3];
  size_t scratch_bytes;
} Entry;

#define MAX_ENTRIES 256
static Entry entries[MAX_ENTRIES];
static int entry_count = 0;
static dnnl_engine_t engine = NULL;
static dnnl_stream_t stream = NULL;

/* The precision of convolutions and GEMMs (adv_set_precision). */
static int bf16_on = 0;

static void *arena = NULL;
static size_t arena_cap = 0;

static const char *status_name(dnnl_status_t s) {
  switch (s) {
    case dnnl_success:
      return "success";
    case dnnl_out_of_memory:
      return "out of memory";
    case dnnl_invalid_arguments:
      return "invalid arguments";
    case dnnl_unimplemented:
      return "unimplemented";
    case dnnl_iterator_ends:
      return "iterator ends";
    case dnnl_runtime_error:
      return "runtime error";
    case dnnl_not_required:
      return "not required";
    default:
      return "unknown status";
  }
}

/* Runs a oneDNN call; on failure records "fn: oneDNN call failed: status"
 * and returns 1 from the enclosing function. */
#define DNNL_TRY(fn, call)                                                  \
  do {                                                                      \
    dnnl_status_t st_ = (call);                                             \
    if (st_ != dnnl_success)                                                \
      return adv_fail(fn, "oneDNN %s failed: %s", #call, status_name(st_)); \
  } while (0)

static int ensure_engine(const char *fn) {
  if (engine) return 0;
  DNNL_TRY(fn, dnnl_engine_create(&engine, dnnl_cpu, 0));
  DNNL_TRY(fn, dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
  return 0;
}

static size_t align64(size_t b) { return (b + 63) & ~(size_t)63; }

static void *arena_get(size_t bytes) {
  if (bytes > arena_cap) {
    free(arena); /* free-on-growth: old contents are not needed */
    arena = aligned_alloc(64, align64(bytes));
    arena_cap = arena ? align64(bytes) : 0;
  }
  return arena;
}

/* A 4-d descriptor: the caller's plain float32 layout, or (any) the layout
 * the primitive will pick, in float32 or bfloat16. */
static int desc4(const char *fn, dnnl_memory_desc_t *md, int64_t a, int64_t b,
                 int64_t c, int64_t d, int any, int bf16) {
  dnnl_dims_t dims = {a, b, c, d};
  DNNL_TRY(fn, dnnl_memory_desc_init_by_tag(
                   md, 4, dims, bf16 ? dnnl_bf16 : dnnl_f32,
                   any ? dnnl_format_tag_any : dnnl_abcd));
  return 0;
}

/* Reorder user -> prim (to_prim) or prim -> user, or none when equal. */
static int make_reorder(const char *fn, Slot *s, int to_prim) {
  s->bytes = dnnl_memory_desc_get_size(&s->prim);
  s->reorder = NULL;
  if (dnnl_memory_desc_equal(&s->user, &s->prim)) return 0;
  dnnl_primitive_desc_t rpd;
  const dnnl_memory_desc_t *from = to_prim ? &s->user : &s->prim;
  const dnnl_memory_desc_t *to = to_prim ? &s->prim : &s->user;
  DNNL_TRY(fn, dnnl_reorder_primitive_desc_create(&rpd, from, engine, to,
                                                  engine, NULL));
  dnnl_status_t st = dnnl_primitive_create(&s->reorder, rpd);
  dnnl_primitive_desc_destroy(rpd);
  DNNL_TRY(fn, st);
  return 0;
}

/* Creates the primitive for `key` into e (e->prim stays NULL if declined). */
static int create(const char *fn, const Key *key, Entry *e) {
  memset(e, 0, sizeof *e);
  e->key = *key;
  /* In bf16 a pass reads its two inputs in bfloat16 and writes its output in
   * float32 (the reorders convert); x_out, w_out and y_out are the tensors'
   * descriptors where they are a pass's output. */
  const int b = key->bf16;
  dnnl_memory_desc_t x_any, w_any, y_any, x_out, w_out, y_out, x_user, w_user,
      y_user;
  if (desc4(fn, &x_any, key->n, key->c, key->h, key->wd, 1, b) ||
      desc4(fn, &w_any, key->k, key->c, key->kh, key->kw, 1, b) ||
      desc4(fn, &y_any, key->n, key->k, key->oh, key->ow, 1, b) ||
      desc4(fn, &x_out, key->n, key->c, key->h, key->wd, 1, 0) ||
      desc4(fn, &w_out, key->k, key->c, key->kh, key->kw, 1, 0) ||
      desc4(fn, &y_out, key->n, key->k, key->oh, key->ow, 1, 0) ||
      desc4(fn, &x_user, key->n, key->c, key->h, key->wd, 0, 0) ||
      desc4(fn, &w_user, key->k, key->c, key->kh, key->kw, 0, 0) ||
      desc4(fn, &y_user, key->n, key->k, key->oh, key->ow, 0, 0))
    return 1;
  dnnl_dims_t strides = {key->sh, key->sw}, pad_l = {key->ph, key->pw};
  /* The right padding that makes the output oh x ow (below ph where the
   * floor in oh drops input rows, as a transposed convolution's may). */
  dnnl_dims_t pad_r = {
      (int64_t)(key->oh - 1) * key->sh + key->kh - key->h - key->ph,
      (int64_t)(key->ow - 1) * key->sw + key->kw - key->wd - key->pw};
  if (pad_r[0] < 0 || pad_r[1] < 0) return 0; /* declined: im2col */
  /* oneDNN's backward data pads the input's channels to its 16-wide blocks, so
   * with under 8 of them (an image's 1 or 3: a generator's last transposed
   * convolution) im2col is 3 to 6 times faster (1->16 at 28x28, batch 250:
   * 4.0 ms against 0.7); at 8 the two tie. */
  if (key->pass == ADV_CONV_BACKWARD_DATA && key->c < 8) return 0;

  dnnl_primitive_attr_t attr;
  DNNL_TRY(fn, dnnl_primitive_attr_create(&attr));
  dnnl_status_t st =
      dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  if (st != dnnl_success) {
    dnnl_primitive_attr_destroy(attr);
    DNNL_TRY(fn, st);
  }
  dnnl_convolution_desc_t fd;
  dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
  /* The forward pass writes y in float32; as the backward passes' hint it
   * keeps their input type. */
  st = dnnl_convolution_forward_desc_init(
      &fd, dnnl_forward_training, dnnl_convolution_direct, &x_any, &w_any, NULL,
      key->pass == ADV_CONV_FORWARD ? &y_out : &y_any, strides, pad_l, pad_r);
  if (st == dnnl_success)
    st = dnnl_primitive_desc_create(&fwd_pd, &fd, attr, engine, NULL);
  if (st == dnnl_success && key->pass == ADV_CONV_FORWARD) {
    pd = fwd_pd;
    fwd_pd = NULL;
  } else if (st == dnnl_success && key->pass == ADV_CONV_BACKWARD_DATA) {
    dnnl_convolution_desc_t bd;
    st = dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct,
                                                  &x_out, &w_any, &y_any,
                                                  strides, pad_l, pad_r);
    if (st == dnnl_success)
      st = dnnl_primitive_desc_create(&pd, &bd, attr, engine, fwd_pd);
  } else if (st == dnnl_success) {
    dnnl_convolution_desc_t bd;
    st = dnnl_convolution_backward_weights_desc_init(
        &bd, dnnl_convolution_direct, &x_any, &w_out, NULL, &y_any, strides,
        pad_l, pad_r);
    if (st == dnnl_success)
      st = dnnl_primitive_desc_create(&pd, &bd, attr, engine, fwd_pd);
  }
  if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
  dnnl_primitive_attr_destroy(attr);
  if (st == dnnl_unimplemented) return 0; /* declined: im2col */
  DNNL_TRY(fn, st);

#define QUERY(what) (*dnnl_primitive_desc_query_md(pd, what, 0))
  switch (key->pass) {
    case ADV_CONV_FORWARD:
      e->io[0] =
          (Slot){DNNL_ARG_SRC, x_user, QUERY(dnnl_query_src_md), NULL, 0};
      e->io[1] = (Slot){DNNL_ARG_WEIGHTS, w_user, QUERY(dnnl_query_weights_md),
                        NULL, 0};
      e->io[2] =
          (Slot){DNNL_ARG_DST, y_user, QUERY(dnnl_query_dst_md), NULL, 0};
      break;
    case ADV_CONV_BACKWARD_DATA:
      e->io[0] = (Slot){DNNL_ARG_DIFF_DST, y_user,
                        QUERY(dnnl_query_diff_dst_md), NULL, 0};
      e->io[1] = (Slot){DNNL_ARG_WEIGHTS, w_user, QUERY(dnnl_query_weights_md),
                        NULL, 0};
      e->io[2] = (Slot){DNNL_ARG_DIFF_SRC, x_user,
                        QUERY(dnnl_query_diff_src_md), NULL, 0};
      break;
    default:
      e->io[0] =
          (Slot){DNNL_ARG_SRC, x_user, QUERY(dnnl_query_src_md), NULL, 0};
      e->io[1] = (Slot){DNNL_ARG_DIFF_DST, y_user,
                        QUERY(dnnl_query_diff_dst_md), NULL, 0};
      e->io[2] = (Slot){DNNL_ARG_DIFF_WEIGHTS, w_user,
                        QUERY(dnnl_query_diff_weights_md), NULL, 0};
  }
  e->scratch_bytes =
      dnnl_memory_desc_get_size(&QUERY(dnnl_query_scratchpad_md));
#undef QUERY
  st = dnnl_primitive_create(&e->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  DNNL_TRY(fn, st);
  for (int i = 0; i < 3; i++)
    if (make_reorder(fn, &e->io[i], i < 2)) return 1;
  return 0;
}

static int find(const char *fn, const Key *key, Entry **out) {
  for (int i = 0; i < entry_count; i++)
    if (!memcmp(&entries[i].key, key, sizeof *key)) {
      *out = &entries[i];
      return 0;
    }
  if (ensure_engine(fn)) return 1;
  /* A full cache recycles its oldest slot, so a run with ever new geometries
   * still works. */
  int slot = entry_count < MAX_ENTRIES ? entry_count++ : 0;
  Entry *e = &entries[slot];
  if (slot == 0 && e->prim) {
    dnnl_primitive_destroy(e->prim);
    for (int i = 0; i < 3; i++)
      if (e->io[i].reorder) dnnl_primitive_destroy(e->io[i].reorder);
  }
  if (create(fn, key, e)) {
    memset(e, 0, sizeof *e);
    e->key.pass = -1; /* never matches */
    return 1;
  }
  *out = e;
  return 0;
}

static int run_reorder(const char *fn, dnnl_primitive_t r,
                       const dnnl_memory_desc_t *from_md, void *from,
                       const dnnl_memory_desc_t *to_md, void *to) {
  dnnl_memory_t a, b;
  DNNL_TRY(fn, dnnl_memory_create(&a, from_md, engine, from));
  dnnl_status_t st = dnnl_memory_create(&b, to_md, engine, to);
  if (st == dnnl_success) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    st = dnnl_primitive_execute(r, stream, 2, args);
    dnnl_memory_destroy(b);
  }
  dnnl_memory_destroy(a);
  DNNL_TRY(fn, st);
  return 0;
}

/* Runs primitive p on n tensors (arguments kinds[i], descriptors mds[i],
 * memory data[i]) and a scratchpad of scratch_bytes at scratch, then waits. */
static int execute(const char *fn, dnnl_primitive_t p, int n, const int *kinds,
                   const dnnl_memory_desc_t *const *mds, void *const *data,
                   size_t scratch_bytes, void *scratch) {
  dnnl_memory_t mem[4] = {NULL, NULL, NULL, NULL};
  dnnl_exec_arg_t args[4];
  dnnl_memory_desc_t scratch_md;
  dnnl_dims_t scratch_dims = {(int64_t)scratch_bytes};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&scratch_md, 1, scratch_dims,
                                                  dnnl_u8, dnnl_a);
  for (int i = 0; i <= n && st == dnnl_success; i++) {
    st = dnnl_memory_create(&mem[i], i < n ? mds[i] : &scratch_md, engine,
                            i < n ? data[i] : scratch);
    args[i] = (dnnl_exec_arg_t){i < n ? kinds[i] : DNNL_ARG_SCRATCHPAD, mem[i]};
  }
  if (st == dnnl_success) st = dnnl_primitive_execute(p, stream, n + 1, args);
  if (st == dnnl_success) st = dnnl_stream_wait(stream);
  for (int i = 0; i <= n; i++)
    if (mem[i]) dnnl_memory_destroy(mem[i]);
  DNNL_TRY(fn, st);
  return 0;
}

int adv_dnnl_conv2d(const char *fn, int pass, const real *in0, const real *in1,
                    real *out, int accumulate, int n, int c, int h, int wd,
                    int k, int kh, int kw, int sh, int sw, int ph, int pw,
                    int oh, int ow) {
  Key key = {pass, bf16_on, n, c, h, wd, k, kh, kw, sh, sw, ph, pw, oh, ow};
  Entry *e;
  if (find(fn, &key, &e)) return 1;
  if (!e->prim) return ADV_DNNL_DECLINED;
  size_t out_plain = dnnl_memory_desc_get_size(&e->io[2].user);
  /* Arena: the reordered inputs, the primitive's output, a plain sum for
   * accumulate, scratch. */
  size_t off[5], total = 0;
  off[0] = total, total += e->io[0].reorder ? align64(e->io[0].bytes) : 0;
  off[1] = total, total += e->io[1].reorder ? align64(e->io[1].bytes) : 0;
  off[2] = total, total += e->io[2].reorder ? align64(e->io[2].bytes) : 0;
  off[3] = total, total += accumulate ? align64(out_plain) : 0;
  off[4] = total, total += align64(e->scratch_bytes);
  char *base = total ? arena_get(total) : NULL;
  if (total && !base)
    return adv_fail(fn, "out of memory for %zu bytes of oneDNN scratch", total);

  void *user[3] = {(void *)in0, (void *)in1, out};
  void *plain_out = accumulate ? (void *)(base + off[3]) : (void *)out;
  void *data[3];
  for (int i = 0; i < 2; i++) {
    Slot *s = &e->io[i];
    data[i] = s->reorder ? base + off[i] : user[i];
    if (s->reorder &&
        run_reorder(fn, s->reorder, &s->user, user[i], &s->prim, data[i]))
      return 1;
  }
  data[2] = e->io[2].reorder ? base + off[2] : plain_out;

  const int kinds[3] = {e->io[0].arg, e->io[1].arg, e->io[2].arg};
  const dnnl_memory_desc_t *mds[3] = {&e->io[0].prim, &e->io[1].prim,
                                      &e->io[2].prim};
  if (execute(fn, e->prim, 3, kinds, mds, data, e->scratch_bytes, base + off[4]))
    return 1;

  Slot *o = &e->io[2];
  if (o->reorder &&
      run_reorder(fn, o->reorder, &o->prim, data[2], &o->user, plain_out))
    return 1;
  if (accumulate) {
    const real *src = plain_out;
    int64_t len = (int64_t)(out_plain / sizeof(real));
#pragma omp parallel for if (len > ADV_PARALLEL_MIN) schedule(static)
    for (int64_t i = 0; i < len; i++) out[i] += src[i];
  }
  return 0;
}

/* ---- bfloat16 GEMM: a matmul primitive per shape, inputs converted ---- */

typedef struct {
  int ta, tb, m, n, k, ldc;
  float alpha, beta;
} GemmKey;

typedef struct {
  GemmKey key;
  dnnl_primitive_t prim;
  dnnl_memory_desc_t a, b, c; /* bfloat16 A and B, float32 C */
  size_t scratch_bytes;
} GemmEntry;

static GemmEntry gemms[MAX_ENTRIES];
static int gemm_count = 0;

/* rows x cols of float32 with leading dimension ld into dense bfloat16,
 * rounding to nearest even (NaN stays NaN). */
static void to_bf16(const float *x, int rows, int cols, int ld, uint16_t *y) {
#pragma omp parallel for if ((int64_t)rows * cols > ADV_PARALLEL_MIN) schedule(static)
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      uint32_t u;
      memcpy(&u, &x[(int64_t)r * ld + c], 4);
      uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
      y[(int64_t)r * cols + c] =
          (uint16_t)(nan ? (u >> 16) | 0x40 : (u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
}

static int gemm_create(const char *fn, const GemmKey *key, GemmEntry *e) {
  memset(e, 0, sizeof *e);
  e->key = *key;
  /* A and B arrive as dense bfloat16 copies of their stored layouts: op(A)
   * (m, k) is A's rows as stored, or their transpose. */
  dnnl_dims_t da = {key->m, key->k}, db = {key->k, key->n}, dc = {key->m, key->n};
  dnnl_dims_t sa = {key->ta ? 1 : key->k, key->ta ? key->m : 1};
  dnnl_dims_t sb = {key->tb ? 1 : key->n, key->tb ? key->k : 1};
  dnnl_dims_t sc = {key->ldc, 1};
  DNNL_TRY(fn, dnnl_memory_desc_init_by_strides(&e->a, 2, da, dnnl_bf16, sa));
  DNNL_TRY(fn, dnnl_memory_desc_init_by_strides(&e->b, 2, db, dnnl_bf16, sb));
  DNNL_TRY(fn, dnnl_memory_desc_init_by_strides(&e->c, 2, dc, dnnl_f32, sc));
  dnnl_matmul_desc_t md;
  DNNL_TRY(fn, dnnl_matmul_desc_init(&md, &e->a, &e->b, NULL, &e->c));
  dnnl_primitive_attr_t attr;
  DNNL_TRY(fn, dnnl_primitive_attr_create(&attr));
  dnnl_post_ops_t po = NULL;
  dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  if (st == dnnl_success && key->alpha != 1)
    st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key->alpha);
  if (st == dnnl_success && key->beta != 0) {
    st = dnnl_post_ops_create(&po);
    if (st == dnnl_success) st = dnnl_post_ops_append_sum(po, key->beta);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
  }
  dnnl_primitive_desc_t pd = NULL;
  if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
  if (po) dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  DNNL_TRY(fn, st);
  e->scratch_bytes =
      dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
  st = dnnl_primitive_create(&e->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  DNNL_TRY(fn, st);
  return 0;
}

int adv_dnnl_gemm_bf16(const char *fn, int trans_a, int trans_b, int m, int n, int k,
                       float alpha, const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc) {
  GemmKey key = {trans_a != 0, trans_b != 0, m, n, k, ldc, alpha, beta};
  GemmEntry *e = NULL;
  for (int i = 0; i < gemm_count && !e; i++)
    if (!memcmp(&gemms[i].key, &key, sizeof key)) e = &gemms[i];
  if (!e) {
    if (ensure_engine(fn)) return 1;
    int slot = gemm_count < MAX_ENTRIES ? gemm_count++ : 0;
    e = &gemms[slot];
    if (slot == 0 && e->prim) dnnl_primitive_destroy(e->prim);
    if (gemm_create(fn, &key, e)) {
      memset(e, 0, sizeof *e);
      e->key.m = -1; /* never matches */
      return 1;
    }
  }
  size_t bytes_a = align64((size_t)m * k * 2), bytes_b = align64((size_t)k * n * 2);
  char *base = arena_get(bytes_a + bytes_b + align64(e->scratch_bytes));
  if (!base) return adv_fail(fn, "out of memory for oneDNN's bfloat16 copies");
  uint16_t *a16 = (uint16_t *)base, *b16 = (uint16_t *)(base + bytes_a);
  /* Stored layouts: A is (m, k) or, transposed, (k, m); B (k, n) or (n, k). */
  to_bf16(a, trans_a ? k : m, trans_a ? m : k, lda, a16);
  to_bf16(b, trans_b ? n : k, trans_b ? k : n, ldb, b16);
  const int kinds[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  const dnnl_memory_desc_t *mds[3] = {&e->a, &e->b, &e->c};
  void *data[3] = {a16, b16, c};
  return execute(fn, e->prim, 3, kinds, mds, data, e->scratch_bytes,
                 base + bytes_a + bytes_b);
}

/* ---- precision ---- */

int adv_dnnl_bf16(void) { return bf16_on; }

int adv_onednn_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

int adv_set_precision(int bf16) {
  if (bf16 != 0 && bf16 != 1)
    return adv_fail(__func__, "precision must be 0 (fp32) or 1 (bf16), got %d", bf16);
  if (bf16) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* AVX-512-BF16 (avx512_core_bf16) and AMX both contain the bf16 bit set. */
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16)
      return adv_fail(__func__,
                      "bf16 needs a processor with AVX-512-BF16 or AMX, and oneDNN finds "
                      "none here (its ISA code %#x)",
                      (unsigned)isa);
  }
  bf16_on = bf16;
  return 0;
}
#else
/* Without oneDNN (the float64 library) everything runs in the library's own precision. */
#include "common.h"

int adv_onednn_isa(void) { return 0; }

int adv_set_precision(int bf16) {
  if (bf16 != 0 && bf16 != 1)
    return adv_fail(__func__, "precision must be 0 (fp32) or 1 (bf16), got %d", bf16);
  if (bf16) return adv_fail(__func__, "this library has no bf16 kernels (it is built without oneDNN)");
  return 0;
}
#endif
