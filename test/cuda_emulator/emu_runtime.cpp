/*
 * The CUDA emulator's runtime: fibers for the threads of a block, barriers,
 * warp exchanges, the launch queue, device memory, and the few runtime,
 * cuBLAS and cuDNN entry points kernels/ calls. See cuda_emu.h.
 *
 * Environment:
 *   EMU_ORDER=forward|reverse|random  order in which blocks, the warps of a
 *       block and the lanes of a warp run (default forward); running the
 *       tests in more than one order exposes races between threads.
 *   EMU_SCHED=warps|lockstep  warps: each warp runs until all its threads
 *       wait at __syncthreads (or are done) before the next one starts, so
 *       warps drift apart as far as a GPU allows (default); lockstep: one
 *       step (to the next barrier or warp collective) per thread per pass.
 *   EMU_SEED=N      seed of EMU_ORDER=random.
 *   EMU_EAGER=1     run every launch and copy at once (no queue).
 *   EMU_MEM_GB=64   the emulated GPU's memory.
 *   EMU_NO_POISON=1 leave new device and shared memory zeroed.
 *   EMU_STATS=1     print launches and time per kernel at exit.
 *   EMU_TRACE=1     print every launch as it runs.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cuda_emu.h"

/* ---- context switch (x86-64 System V): callee-saved registers, MXCSR and
 * the x87 control word ---- */
extern "C" void emu_switch(void **save_sp, void *new_sp);
__asm__(R"(
  .text
  .p2align 4
  .type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch, .-emu_switch
)");

namespace emu {

thread_local Thread *cur = nullptr;
thread_local uint3 block_idx = {0, 0, 0};
thread_local dim3 block_dim, grid_dim;

enum { READY = 0, WAIT_WARP = 1, WAIT_BLOCK = 2, DONE = 3 };

static const size_t PAGE = 4096;
static const size_t STACK_SIZE = 256 * 1024;
static const int MAX_THREADS = 1024;

/* ---- settings ---- */
static int g_order = 0; /* 0 forward, 1 reverse, 2 random */
static int g_sched = 0; /* 0 warp by warp, 1 round robin over threads */
static bool g_eager = false, g_poison = true, g_stats = false, g_trace = false;
static size_t g_mem_cap = (size_t)64 << 30;
static std::mt19937_64 g_rng(12345);

static void settings() {
  static bool done = false;
  if (done) return;
  done = true;
  if (const char *o = getenv("EMU_ORDER")) {
    if (!strcmp(o, "reverse")) g_order = 1;
    else if (!strcmp(o, "random")) g_order = 2;
    else if (strcmp(o, "forward")) {
      fprintf(stderr, "EMU_ORDER must be forward, reverse or random\n");
      abort();
    }
  }
  if (const char *s = getenv("EMU_SCHED")) {
    if (!strcmp(s, "lockstep")) g_sched = 1;
    else if (strcmp(s, "warps")) {
      fprintf(stderr, "EMU_SCHED must be warps or lockstep\n");
      abort();
    }
  }
  if (const char *s = getenv("EMU_SEED")) g_rng.seed(strtoull(s, 0, 10));
  g_eager = getenv("EMU_EAGER") && atoi(getenv("EMU_EAGER"));
  g_poison = !(getenv("EMU_NO_POISON") && atoi(getenv("EMU_NO_POISON")));
  g_stats = getenv("EMU_STATS") && atoi(getenv("EMU_STATS"));
  g_trace = getenv("EMU_TRACE") && atoi(getenv("EMU_TRACE"));
  if (const char *m = getenv("EMU_MEM_GB"))
    g_mem_cap = (size_t)(atof(m) * (double)((size_t)1 << 30));
}

/* ---- the kernel being run, for messages ---- */
struct Running {
  const char *name = nullptr, *file = nullptr;
  int line = 0;
  dim3 grid, block;
};
static thread_local Running *g_running = nullptr;

static std::string context() {
  char buf[512];
  if (!g_running) return "(not in a kernel)";
  Running &r = *g_running;
  int n = snprintf(buf, sizeof buf,
                   "kernel %s (launched at %s:%d, grid (%u,%u,%u), block "
                   "(%u,%u,%u)), block (%u,%u,%u)",
                   r.name, r.file, r.line, r.grid.x, r.grid.y, r.grid.z,
                   r.block.x, r.block.y, r.block.z, block_idx.x, block_idx.y,
                   block_idx.z);
  if (cur && n > 0 && (size_t)n < sizeof buf)
    snprintf(buf + n, sizeof buf - n, ", thread (%u,%u,%u) (warp %u lane %u)",
             cur->idx.x, cur->idx.y, cur->idx.z, cur->warp, cur->lane);
  return buf;
}

void fail(const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n*** CUDA emulator: %s\n*** in %s\n", msg,
          context().c_str());
  fflush(stderr);
  signal(SIGABRT, SIG_DFL);
  abort();
}

/* ---- device memory ---- */
enum { DEVICE = 0, PINNED = 1 };
struct Region {
  char *map;      /* the whole mapping: guard, pad, data, guard */
  size_t maplen;
  char *base;     /* what the caller got */
  size_t size;    /* what the caller asked for */
  size_t charged; /* counted against the memory cap */
  int kind;
  bool freed;
};
/* by base; built on first use: __device__ variables are mapped while the
 * library's static objects are being constructed */
static std::map<uintptr_t, Region> &regions() {
  static auto *m = new std::map<uintptr_t, Region>;
  return *m;
}
#define g_regions (regions())
static std::deque<uintptr_t> g_quarantine;   /* freed, PROT_NONE, oldest first */
static size_t g_used = 0;
static const unsigned char PAD_BYTE = 0xA5;

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* The region whose [base, base + size] holds p (the end counts: a pointer
 * one past the end is a valid argument), freed ones included. */
static Region *region_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  auto it = g_regions.upper_bound(a);
  if (it == g_regions.begin()) return nullptr;
  --it;
  Region &r = it->second;
  return a <= (uintptr_t)r.base + r.size ? &r : nullptr;
}
/* The region whose mapping holds p (for faults). */
static Region *mapping_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  for (auto &kv : g_regions) {
    Region &r = kv.second;
    if (a >= (uintptr_t)r.map && a < (uintptr_t)r.map + r.maplen) return &r;
  }
  return nullptr;
}

/* Data ends at a page boundary followed by a PROT_NONE page, so reading or
 * writing past the end faults; the pad before it is checked at free. */
static char *map_region(size_t bytes, int kind, bool poison = true) {
  size_t data = round_up(bytes ? bytes : 1, 4);
  size_t pages = round_up(data, PAGE);
  size_t maplen = pages + 2 * PAGE;
  char *m = (char *)mmap(nullptr, maplen, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  mprotect(m, PAGE, PROT_NONE);
  mprotect(m + PAGE + pages, PAGE, PROT_NONE);
  char *base = m + PAGE + pages - data;
  memset(m + PAGE, PAD_BYTE, (size_t)(base - (m + PAGE)));
  if (poison && g_poison && bytes <= ((size_t)256 << 20)) memset(base, 0xFF, data);
  Region r = {m, maplen, base, bytes, 0, kind, false};
  g_regions[(uintptr_t)base] = r;
  return base;
}

static void check_pad(const Region &r, const char *fn) {
  for (char *q = r.map + PAGE; q < r.base; q++)
    if ((unsigned char)*q != PAD_BYTE)
      fail("%s: the %zu bytes before the allocation at %p (%zu bytes) were "
           "overwritten (byte %ld before it): an underflow",
           fn, (size_t)(r.base - (r.map + PAGE)), (void *)r.base, r.size,
           (long)(r.base - q));
}

static void unmap_region(Region &r, const char *fn) {
  check_pad(r, fn);
  /* keep the addresses, inaccessible, so a use after free faults */
  mprotect(r.map, r.maplen, PROT_NONE);
  madvise(r.map, r.maplen, MADV_DONTNEED);
  r.freed = true;
  g_quarantine.push_back((uintptr_t)r.base);
  while (g_quarantine.size() > 2000) {
    auto it = g_regions.find(g_quarantine.front());
    g_quarantine.pop_front();
    if (it == g_regions.end()) continue;
    munmap(it->second.map, it->second.maplen);
    g_regions.erase(it);
  }
}

static std::string describe(const void *p) {
  char buf[256];
  Region *r = region_of(p);
  if (!r) {
    snprintf(buf, sizeof buf, "%p (not in any allocation)", p);
  } else {
    snprintf(buf, sizeof buf, "%p (offset %ld of %s%s allocation %p of %zu bytes)",
             p, (long)((const char *)p - r->base), r->freed ? "FREED " : "",
             r->kind == DEVICE ? "device" : "pinned host", (void *)r->base,
             r->size);
  }
  return buf;
}

/* A live region of `kind` that holds [p, p + n). */
static bool inside(const void *p, size_t n, int kind) {
  Region *r = region_of(p);
  return r && !r->freed && r->kind == kind &&
         (const char *)p + n <= r->base + r->size;
}

/* ---- errors ---- */
static cudaError_t g_last = cudaSuccess;
static cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) g_last = e;
  return e;
}

/* ---- the queue ---- */
struct Op {
  std::function<void()> run;
};
static std::deque<Op> g_queue;
static uint64_t g_enqueued = 0, g_executed = 0;
static bool g_flushing = false;

static void run_until(uint64_t pos) {
  if (g_flushing) fail("the queue was flushed from inside a queued operation");
  g_flushing = true;
  while (g_executed < pos && !g_queue.empty()) {
    Op op = std::move(g_queue.front());
    g_queue.pop_front();
    op.run();
    g_executed++;
  }
  g_flushing = false;
}
static void flush() { run_until(g_enqueued); }

static void enqueue(std::function<void()> fn) {
  g_queue.push_back(Op{std::move(fn)});
  g_enqueued++;
  /* a GPU's launch queue is bounded: the oldest work finishes meanwhile */
  if (g_eager) flush();
  else if (g_queue.size() > 4096) run_until(g_executed + 2048);
}

/* ---- streams and events ---- */
struct Stream {
  unsigned flags;
};
struct Event {
  uint64_t pos;
  bool recorded;
};
static std::set<void *> g_streams, g_events;

static bool valid_stream(cudaStream_t s) {
  return s == nullptr || g_streams.count((void *)s);
}

/* ---- fibers ---- */
struct Warp {
  unsigned exists;   /* lanes that are threads of the block */
  unsigned done;     /* lanes that exited */
  unsigned arrived;  /* lanes waiting at the current collective */
  unsigned mask;     /* its mask */
  unsigned gen;
  const char *what, *file;
  int line;
  uint64_t buf[2][32];
};
struct Block {
  int n = 0;
  int remaining = 0;
  int done = 0;
  int arrived = 0; /* at __syncthreads */
  const char *file = nullptr;
  int line = 0;
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  std::vector<void *> shared;
  std::vector<int> order, warp_order, lane_order;
};
static thread_local Block *g_block = nullptr;
static thread_local void *g_sched_sp = nullptr;
static thread_local void (*g_invoke)(void *) = nullptr;
static thread_local void *g_args = nullptr;

static char *g_stacks = nullptr; /* MAX_THREADS stacks, a guard page below each */

static void alloc_stacks() {
  if (g_stacks) return;
  size_t each = STACK_SIZE + PAGE;
  g_stacks = (char *)mmap(nullptr, each * MAX_THREADS, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (g_stacks == MAP_FAILED) {
    perror("CUDA emulator: mmap of fiber stacks");
    abort();
  }
  for (int i = 0; i < MAX_THREADS; i++)
    mprotect(g_stacks + i * each, PAGE, PROT_NONE);
}

static bool same_site(const char *f1, int l1, const char *f2, int l2) {
  return l1 == l2 && (f1 == f2 || !strcmp(f1, f2));
}

static void yield(Thread *t) { emu_switch(&t->sp, g_sched_sp); }

[[noreturn]] static void thread_exit() {
  Thread *t = cur;
  Block &b = *g_block;
  Warp &w = b.warps[t->warp];
  t->state = DONE;
  b.done++;
  b.remaining--;
  w.done |= 1u << t->lane;
  if (b.arrived > 0)
    fail("this thread exited while %d thread(s) of its block wait at "
         "__syncthreads at %s:%d (a barrier every thread must reach)",
         b.arrived, b.file, b.line);
  if (w.arrived && (w.mask >> t->lane & 1u))
    fail("this lane exited while lanes 0x%08x of its warp wait for it at %s "
         "at %s:%d (mask 0x%08x)",
         w.arrived, w.what, w.file, w.line, w.mask);
  void *dummy;
  emu_switch(&dummy, g_sched_sp);
  __builtin_unreachable();
}

extern "C" [[noreturn]] void emu_fiber_entry() {
  g_invoke(g_args);
  thread_exit();
}

/* A fresh stack whose first switch "returns" into emu_fiber_entry. */
static void *init_stack(Thread &t) {
  char *hi = (char *)t.stack_hi;
  uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(top - 72);
  uint32_t mx;
  uint16_t cw;
  __asm__ volatile("stmxcsr %0" : "=m"(mx));
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  sp[0] = (uint64_t)mx | ((uint64_t)cw << 32);
  for (int i = 1; i <= 6; i++) sp[i] = 0; /* r15 r14 r13 r12 rbx rbp */
  sp[7] = (uint64_t)(uintptr_t)&emu_fiber_entry;
  sp[8] = 0;
  return sp;
}

void syncthreads(const char *file, int line) {
  Thread *t = cur;
  if (!t || !g_block) fail("__syncthreads at %s:%d outside a kernel", file, line);
  Block &b = *g_block;
  if (b.done > 0) {
    std::string who;
    int shown = 0;
    for (auto &o : b.threads)
      if (o.state == DONE && shown++ < 8) who += " " + std::to_string(o.linear);
    fail("__syncthreads at %s:%d reached after %d thread(s) of the block "
         "exited (threads%s%s): a barrier every thread must reach",
         file, line, b.done, who.c_str(), b.done > 8 ? " ..." : "");
  }
  if (b.arrived == 0) {
    b.file = file;
    b.line = line;
  } else if (!same_site(b.file, b.line, file, line)) {
    fail("__syncthreads at %s:%d while %d other thread(s) wait at the one at "
         "%s:%d (divergent barriers)",
         file, line, b.arrived, b.file, b.line);
  }
  b.arrived++;
  if (b.arrived == b.n) {
    b.arrived = 0;
    for (auto &o : b.threads)
      if (o.state == WAIT_BLOCK) o.state = READY;
    return;
  }
  t->state = WAIT_BLOCK;
  t->file = file;
  t->line = line;
  yield(t);
}

const uint64_t *warp_exchange(unsigned mask, uint64_t v, const char *what,
                              const char *file, int line) {
  Thread *t = cur;
  if (!t || !g_block) fail("%s at %s:%d outside a kernel", what, file, line);
  Block &b = *g_block;
  Warp &w = b.warps[t->warp];
  unsigned me = 1u << t->lane;
  if (!(mask & me))
    fail("%s at %s:%d: the calling lane is not in mask 0x%08x", what, file,
         line, mask);
  if (mask & ~w.exists)
    fail("%s at %s:%d: mask 0x%08x names lanes 0x%08x that are not threads "
         "(block of %d threads)",
         what, file, line, mask, mask & ~w.exists, b.n);
  if (mask & w.done)
    fail("%s at %s:%d with mask 0x%08x, but lanes 0x%08x of the warp have "
         "exited: they never arrive",
         what, file, line, mask, mask & w.done);
  if (w.arrived == 0) {
    w.mask = mask;
    w.what = what;
    w.file = file;
    w.line = line;
  } else if (w.mask != mask) {
    fail("%s at %s:%d with mask 0x%08x while lanes 0x%08x wait at %s at %s:%d "
         "with mask 0x%08x",
         what, file, line, mask, w.arrived, w.what, w.file, w.line, w.mask);
  } else if (!same_site(w.file, w.line, file, line) || strcmp(w.what, what)) {
    fail("%s at %s:%d while lanes 0x%08x wait at %s at %s:%d (divergent warp "
         "collectives)",
         what, file, line, w.arrived, w.what, w.file, w.line);
  }
  unsigned slot = w.gen & 1u;
  w.buf[slot][t->lane] = v;
  w.arrived |= me;
  if (w.arrived == mask) {
    w.arrived = 0;
    w.gen++;
    for (unsigned l = 0; l < 32; l++)
      if (mask >> l & 1u) {
        Thread &o = b.threads[t->warp * 32 + l];
        if (o.state == WAIT_WARP) o.state = READY;
      }
    return w.buf[slot];
  }
  t->state = WAIT_WARP;
  t->file = file;
  t->line = line;
  t->mask = mask;
  yield(t);
  return w.buf[slot];
}

void shared_decl(void *p, size_t bytes) {
  if (!g_block) fail("__shared__ declared outside a kernel");
  for (void *q : g_block->shared)
    if (q == p) return;
  g_block->shared.push_back(p);
  if (g_poison) memset(p, 0xFF, bytes);
}

static void deadlock() {
  Block &b = *g_block;
  std::string s;
  int shown = 0;
  for (auto &t : b.threads) {
    if (t.state == DONE || shown >= 12) continue;
    char buf[160];
    snprintf(buf, sizeof buf, "\n    thread %u (warp %u lane %u) waits at %s:%d (%s)",
             t.linear, t.warp, t.lane, t.file ? t.file : "?", t.line,
             t.state == WAIT_WARP ? "warp collective" : "__syncthreads");
    s += buf;
    shown++;
  }
  cur = nullptr;
  fail("deadlock: no thread of the block can run:%s", s.c_str());
}

/* ---- running a launch ---- */
struct KernelStats {
  uint64_t launches = 0, threads = 0;
  double seconds = 0;
};
static std::map<std::string, KernelStats> g_kstats;

static double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void install_fault_handler();

/* The handler's own alternate stack while kernels run: the host's (Rust
 * gives the main thread 8 KiB) is too small for the diagnosis. */
static thread_local char *g_altstack = nullptr;
static const size_t ALTSTACK = 256 * 1024;

static void run_launch(Running &r, void (*invoke)(void *), void *args) {
  install_fault_handler();
  if (!g_altstack) g_altstack = (char *)malloc(ALTSTACK);
  stack_t ss, old_ss;
  ss.ss_sp = g_altstack;
  ss.ss_size = ALTSTACK;
  ss.ss_flags = 0;
  bool swapped = sigaltstack(&ss, &old_ss) == 0;
  alloc_stacks();
  double t0 = g_stats ? now() : 0;
  if (g_trace)
    fprintf(stderr, "[emu] %s <<<(%u,%u,%u), (%u,%u,%u)>>> from %s:%d\n",
            r.name, r.grid.x, r.grid.y, r.grid.z, r.block.x, r.block.y,
            r.block.z, r.file, r.line);
  g_running = &r;
  grid_dim = r.grid;
  block_dim = r.block;
  g_invoke = invoke;
  g_args = args;
  Block b;
  b.n = (int)(r.block.x * r.block.y * r.block.z);
  b.threads.resize(b.n);
  b.warps.resize((b.n + 31) / 32);
  for (int i = 0; i < (int)b.warps.size(); i++) {
    int lanes = std::min(32, b.n - 32 * i);
    b.warps[i].exists = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
  }
  size_t each = STACK_SIZE + PAGE;
  for (int i = 0; i < b.n; i++) {
    Thread &t = b.threads[i];
    t.linear = i;
    t.idx.x = i % r.block.x;
    t.idx.y = (i / r.block.x) % r.block.y;
    t.idx.z = i / (r.block.x * r.block.y);
    t.lane = i % 32;
    t.warp = i / 32;
    t.stack_lo = g_stacks + i * each + PAGE;
    t.stack_hi = (char *)t.stack_lo + STACK_SIZE;
  }
  b.order.resize(b.n);
  for (int i = 0; i < b.n; i++) b.order[i] = g_order == 1 ? b.n - 1 - i : i;
  int nw = (int)b.warps.size();
  b.warp_order.resize(nw);
  for (int i = 0; i < nw; i++) b.warp_order[i] = g_order == 1 ? nw - 1 - i : i;
  b.lane_order.resize(32);
  for (int i = 0; i < 32; i++) b.lane_order[i] = g_order == 1 ? 31 - i : i;
  g_block = &b;

  uint64_t nblocks = (uint64_t)r.grid.x * r.grid.y * r.grid.z;
  std::vector<uint32_t> perm;
  if (g_order == 2 && nblocks <= (1u << 22)) {
    perm.resize(nblocks);
    for (uint64_t k = 0; k < nblocks; k++) perm[k] = (uint32_t)k;
    std::shuffle(perm.begin(), perm.end(), g_rng);
  }
  for (uint64_t k = 0; k < nblocks; k++) {
    uint64_t lin = g_order == 1 ? nblocks - 1 - k : perm.empty() ? k : perm[k];
    block_idx.x = (unsigned)(lin % r.grid.x);
    block_idx.y = (unsigned)(lin / r.grid.x % r.grid.y);
    block_idx.z = (unsigned)(lin / ((uint64_t)r.grid.x * r.grid.y));
    for (auto &w : b.warps) {
      w.done = w.arrived = w.gen = 0;
      w.mask = 0;
      w.file = w.what = nullptr;
    }
    b.remaining = b.n;
    b.done = b.arrived = 0;
    b.shared.clear();
    for (auto &t : b.threads) {
      t.state = READY;
      t.file = nullptr;
      t.line = 0;
      t.sp = init_stack(t);
    }
    if (g_order == 2) {
      std::shuffle(b.order.begin(), b.order.end(), g_rng);
      std::shuffle(b.warp_order.begin(), b.warp_order.end(), g_rng);
      std::shuffle(b.lane_order.begin(), b.lane_order.end(), g_rng);
    }
    while (b.remaining > 0) {
      bool ran = false;
      if (g_sched == 0) {
        /* warp by warp: each runs until all its threads wait at
         * __syncthreads or are done, so warps drift far apart, as they may
         * on a GPU, and a missing __syncthreads shows */
        for (int w : b.warp_order) {
          for (bool any = true; any;) {
            any = false;
            for (int l : b.lane_order) {
              int i = w * 32 + l;
              if (i >= b.n || b.threads[i].state != READY) continue;
              cur = &b.threads[i];
              emu_switch(&g_sched_sp, cur->sp);
              any = ran = true;
            }
          }
        }
      } else {
        /* round robin over all threads: one step each per pass */
        for (int i : b.order) {
          Thread &t = b.threads[i];
          if (t.state != READY) continue;
          cur = &t;
          emu_switch(&g_sched_sp, t.sp);
          ran = true;
        }
      }
      cur = nullptr;
      if (!ran) deadlock();
    }
  }
  g_block = nullptr;
  g_running = nullptr;
  cur = nullptr;
  if (swapped) sigaltstack(&old_ss, nullptr);
  if (g_stats) {
    KernelStats &s = g_kstats[r.name];
    s.launches++;
    s.threads += nblocks * b.n;
    s.seconds += now() - t0;
  }
}

static void print_stats() {
  std::vector<std::pair<std::string, KernelStats>> v(g_kstats.begin(),
                                                     g_kstats.end());
  std::sort(v.begin(), v.end(), [](auto &a, auto &b) {
    return a.second.seconds > b.second.seconds;
  });
  fprintf(stderr, "[emu] kernel                           launches      threads   seconds\n");
  for (auto &kv : v)
    fprintf(stderr, "[emu] %-32s %8llu %12llu %9.3f\n", kv.first.c_str(),
            (unsigned long long)kv.second.launches,
            (unsigned long long)kv.second.threads, kv.second.seconds);
}

void enqueue_launch(const char *name, const char *file, int line, dim3 grid,
                    dim3 block, size_t shmem, cudaStream_t stream,
                    void (*invoke)(void *), void *args,
                    void (*destroy)(void *), const void *const *ptrs,
                    int nptrs) {
  settings();
  if (g_stats) {
    static bool registered = false;
    if (!registered) atexit(print_stats);
    registered = true;
  }
  uint64_t threads = (uint64_t)block.x * block.y * block.z;
  bool ok = threads >= 1 && threads <= 1024 && block.x <= 1024 &&
            block.y <= 1024 && block.z <= 64 && grid.x >= 1 &&
            grid.x <= 0x7fffffffu && grid.y >= 1 && grid.y <= 65535 &&
            grid.z >= 1 && grid.z <= 65535 && shmem <= 48 * 1024;
  if (!ok || !valid_stream(stream)) {
    if (g_trace)
      fprintf(stderr, "[emu] %s: invalid launch <<<(%u,%u,%u), (%u,%u,%u), %zu>>> at %s:%d\n",
              name, grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem,
              file, line);
    set_error(ok ? cudaErrorInvalidResourceHandle
                 : cudaErrorInvalidConfiguration);
    destroy(args);
    return;
  }
  for (int i = 0; i < nptrs; i++) {
    const void *p = ptrs[i];
    if (!p) continue;
    Region *r = region_of(p);
    if (!r || r->freed) {
      Running tmp{name, file, line, grid, block};
      g_running = &tmp;
      fail("argument %d of the launch is %s: not device memory (a host "
           "pointer, or freed memory, would fault on a GPU)",
           i + 1, describe(p).c_str());
    }
  }
  auto rr = std::make_shared<Running>();
  rr->name = name;
  rr->file = file;
  rr->line = line;
  rr->grid = grid;
  rr->block = block;
  enqueue([rr, invoke, args, destroy]() {
    run_launch(*rr, invoke, args);
    destroy(args);
  });
}

/* ---- faults ---- */
static struct sigaction g_old_segv, g_old_bus;
static bool g_handler = false;

static void on_fault(int sig, siginfo_t *si, void *uc) {
  if (g_running) {
    void *a = si->si_addr;
    char what[512];
    Region *r = mapping_of(a);
    if (r) {
      const char *base = r->base;
      const char *kind = r->kind == DEVICE ? "device" : "pinned host";
      if ((char *)a >= base + r->size)
        snprintf(what, sizeof what, "%ld bytes past the end of the %s%s allocation %p of %zu bytes",
                 (long)((char *)a - (base + r->size)), r->freed ? "FREED " : "", kind,
                 (void *)base, r->size);
      else if ((char *)a < base)
        snprintf(what, sizeof what, "%ld bytes before the %s%s allocation %p of %zu bytes",
                 (long)(base - (char *)a), r->freed ? "FREED " : "", kind, (void *)base, r->size);
      else
        snprintf(what, sizeof what, "%s", describe(a).c_str());
    } else if (g_stacks && (char *)a >= g_stacks &&
               (char *)a < g_stacks + (STACK_SIZE + PAGE) * MAX_THREADS) {
      snprintf(what, sizeof what, "a thread's stack overflowed (%zu KiB)",
               STACK_SIZE / 1024);
    } else {
      snprintf(what, sizeof what, "address %p, in no allocation", a);
    }
    char msg[800];
    snprintf(msg, sizeof msg, "%s accessing %s", sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", what);
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    sigaction(SIGBUS, &g_old_bus, nullptr);
    fail("%s", msg);
  }
  /* not ours: hand it to whoever had it */
  struct sigaction &old = sig == SIGSEGV ? g_old_segv : g_old_bus;
  if (old.sa_flags & SA_SIGINFO) {
    old.sa_sigaction(sig, si, uc);
  } else if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) {
    sigaction(sig, &old, nullptr); /* the fault repeats, with the old action */
  } else {
    old.sa_handler(sig);
  }
}

/* Installed before each launch runs (a syscall): the host (V8) may install
 * its own handlers later, and then a kernel's fault would go undiagnosed. */
static void install_fault_handler() {
  struct sigaction now;
  if (g_handler && sigaction(SIGSEGV, nullptr, &now) == 0 &&
      (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_fault)
    return;
  g_handler = true;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
}

/* ---- copies ---- */
enum { HOST_PAGEABLE, HOST_PINNED, DEV };
static int where(const void *p, size_t n, const char *fn, const char *which) {
  Region *r = region_of(p);
  if (!r) return HOST_PAGEABLE;
  if (r->freed)
    fail("%s: %s %s", fn, which, describe(p).c_str());
  if ((const char *)p + n > r->base + r->size)
    fail("%s: %s range [%p, +%zu) runs past the end of %s", fn, which, p, n,
         describe(r->base).c_str());
  return r->kind == DEVICE ? DEV : HOST_PINNED;
}

static cudaError_t copy(void *dst, const void *src, size_t n,
                        cudaMemcpyKind kind, cudaStream_t s, bool async,
                        const char *fn, int dst_is_symbol = 0,
                        int src_is_symbol = 0) {
  settings();
  if (!valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return set_error(cudaErrorInvalidValue);
  int wd = dst_is_symbol ? DEV : where(dst, n, fn, "destination");
  int ws = src_is_symbol ? DEV : where(src, n, fn, "source");
  bool want_dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool want_src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyDefault) {
    if (want_dst_dev != (wd == DEV))
      fail("%s: kind %d but the destination %s", fn, (int)kind,
           describe(dst).c_str());
    if (want_src_dev != (ws == DEV))
      fail("%s: kind %d but the source %s", fn, (int)kind,
           describe(src).c_str());
  }
  if ((const char *)dst < (const char *)src + n && (const char *)src < (const char *)dst + n)
    fail("%s: source %s and destination %s overlap (%zu bytes): undefined", fn,
         describe(src).c_str(), describe(dst).c_str(), n);
  bool dst_host_pageable = wd == HOST_PAGEABLE, src_host_pageable = ws == HOST_PAGEABLE;
  if (!async) {
    flush();
    memmove(dst, src, n);
    return cudaSuccess;
  }
  if (dst_host_pageable) {
    /* to pageable memory: returns once the copy is done */
    flush();
    memmove(dst, src, n);
    return cudaSuccess;
  }
  if (src_host_pageable) {
    /* from pageable memory: staged at once, copied in order */
    auto snap = std::make_shared<std::vector<char>>((const char *)src,
                                                    (const char *)src + n);
    enqueue([dst, snap, n]() { memcpy(dst, snap->data(), n); });
    return cudaSuccess;
  }
  enqueue([dst, src, n]() { memmove(dst, src, n); });
  return cudaSuccess;
}

cudaError_t memcpy_symbol(void *dst, const void *src, size_t bytes,
                          cudaMemcpyKind kind, cudaStream_t s, bool to_symbol,
                          const void *symbol, size_t symbol_size,
                          size_t offset, bool async) {
  (void)symbol;
  if (offset + bytes > symbol_size)
    fail("cudaMemcpy%sSymbol: %zu bytes at offset %zu of a %zu-byte symbol",
         to_symbol ? "To" : "From", bytes, offset, symbol_size);
  if (to_symbol && kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice)
    return set_error(cudaErrorInvalidMemcpyDirection);
  if (!to_symbol && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice)
    return set_error(cudaErrorInvalidMemcpyDirection);
  return copy(dst, src, bytes, kind, s, async,
              to_symbol ? "cudaMemcpyToSymbol" : "cudaMemcpyFromSymbol",
              to_symbol, !to_symbol);
}

void sync_all() { flush(); }

/* A __device__ variable: zeroed, as static storage is, in its own mapping
 * with guard pages, so indexing past it faults like any device buffer. */
void *device_global(size_t bytes, const char *name) {
  settings();
  void *p = map_region(bytes, DEVICE, false);
  if (!p) {
    fprintf(stderr, "CUDA emulator: cannot map __device__ %s\n", name);
    abort();
  }
  return p;
}

void require_device(const char *fn, const char *what, const void *p) {
  Region *r = region_of(p);
  if (p && (!r || r->freed || r->kind != DEVICE))
    fail("%s: argument '%s' is %s: not device memory", fn, what,
         describe(p).c_str());
}

} // namespace emu

using namespace emu;

/* ---- the runtime API ---- */
cudaError_t cudaGetDeviceCount(int *count) {
  settings();
  if (!count) return set_error(cudaErrorInvalidValue);
  if (getenv("EMU_NO_DEVICE")) {
    *count = 0;
    return set_error(cudaErrorNoDevice);
  }
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice);
}
cudaError_t cudaGetDevice(int *device) {
  if (!device) return set_error(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
  settings();
  if (!prop) return set_error(cudaErrorInvalidValue);
  if (device != 0) return set_error(cudaErrorInvalidDevice);
  memset(prop, 0, sizeof *prop);
  snprintf(prop->name, sizeof prop->name, "CPU emulator");
  prop->totalGlobalMem = g_mem_cap;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = 1;
  prop->major = 9;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  flush();
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  settings();
  if (!free_bytes || !total_bytes) return set_error(cudaErrorInvalidValue);
  *total_bytes = g_mem_cap;
  *free_bytes = g_used < g_mem_cap ? g_mem_cap - g_used : 0;
  return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
  cudaError_t e = g_last;
  g_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_last; }

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "cudaSuccess";
  case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
  case cudaErrorInitializationError: return "cudaErrorInitializationError";
  case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
  case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
  case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
  case cudaErrorNoDevice: return "cudaErrorNoDevice";
  case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
  case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
  case cudaErrorNotReady: return "cudaErrorNotReady";
  case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
  case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  default: return "unknown error";
  }
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
  settings();
  if (!p) return set_error(cudaErrorInvalidValue);
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  size_t charge = round_up(bytes, 512);
  if (g_used + charge > g_mem_cap || charge < bytes)
    return set_error(cudaErrorMemoryAllocation);
  char *base = map_region(bytes, DEVICE);
  if (!base) return set_error(cudaErrorMemoryAllocation);
  g_regions[(uintptr_t)base].charged = charge;
  g_used += charge;
  *p = base;
  return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
  if (!p) return cudaSuccess;
  flush(); /* cudaFree waits for the device */
  auto it = g_regions.find((uintptr_t)p);
  if (it == g_regions.end() || it->second.kind != DEVICE)
    fail("cudaFree(%s): not the start of a device allocation", describe(p).c_str());
  if (it->second.freed) fail("cudaFree(%p): freed twice", p);
  g_used -= it->second.charged;
  unmap_region(it->second, "cudaFree");
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
  settings();
  (void)flags;
  if (!p) return set_error(cudaErrorInvalidValue);
  *p = map_region(bytes, PINNED);
  return *p ? cudaSuccess : set_error(cudaErrorMemoryAllocation);
}
cudaError_t cudaMallocHost(void **p, size_t bytes) {
  return cudaHostAlloc(p, bytes, 0);
}
cudaError_t cudaFreeHost(void *p) {
  if (!p) return cudaSuccess;
  flush(); /* as cudaFree, it waits for the device */
  auto it = g_regions.find((uintptr_t)p);
  if (it == g_regions.end() || it->second.kind != PINNED)
    fail("cudaFreeHost(%s): not the start of a pinned allocation", describe(p).c_str());
  if (it->second.freed) fail("cudaFreeHost(%p): freed twice", p);
  unmap_region(it->second, "cudaFreeHost");
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind kind) {
  return copy(dst, src, bytes, kind, nullptr, false, "cudaMemcpy");
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                            cudaMemcpyKind kind, cudaStream_t stream) {
  return copy(dst, src, bytes, kind, stream, true, "cudaMemcpyAsync");
}
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes,
                            cudaStream_t stream) {
  if (!valid_stream(stream)) return set_error(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!inside(dst, bytes, DEVICE))
    fail("cudaMemsetAsync: %zu bytes at %s", bytes, describe(dst).c_str());
  enqueue([dst, value, bytes]() { memset(dst, value, bytes); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
  cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr);
  flush();
  return e;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) {
  return cudaStreamCreateWithFlags(s, 0);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
  if (!s) return set_error(cudaErrorInvalidValue);
  Stream *st = new Stream{flags};
  g_streams.insert(st);
  *s = (cudaStream_t)st;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s || !g_streams.count((void *)s))
    return set_error(cudaErrorInvalidResourceHandle);
  flush();
  g_streams.erase((void *)s);
  delete (Stream *)s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  flush();
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
  if (!valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  return g_queue.empty() ? cudaSuccess : set_error(cudaErrorNotReady);
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
  return cudaEventCreateWithFlags(e, 0);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
  (void)flags;
  if (!e) return set_error(cudaErrorInvalidValue);
  Event *ev = new Event{0, false};
  g_events.insert(ev);
  *e = (cudaEvent_t)ev;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (!e || !g_events.count((void *)e))
    return set_error(cudaErrorInvalidResourceHandle);
  g_events.erase((void *)e);
  delete (Event *)e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e || !g_events.count((void *)e) || !valid_stream(s))
    return set_error(cudaErrorInvalidResourceHandle);
  Event *ev = (Event *)e;
  ev->pos = g_enqueued;
  ev->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (!e || !g_events.count((void *)e))
    return set_error(cudaErrorInvalidResourceHandle);
  Event *ev = (Event *)e;
  /* cudaErrorNotReady "is not actually an error", but like every status
   * other than cudaSuccess the runtime records it as the thread's last error
   * (not sticky): a later cudaGetLastError returns it unless it was cleared.
   * (PyTorch clears it after every query for this reason.) */
  if (!ev->recorded || g_executed >= ev->pos) return cudaSuccess;
  return set_error(cudaErrorNotReady);
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e || !g_events.count((void *)e))
    return set_error(cudaErrorInvalidResourceHandle);
  Event *ev = (Event *)e;
  if (ev->recorded) run_until(ev->pos);
  return cudaSuccess;
}

/* ---- cuBLAS and cuDNN handles ---- */
struct cublasContext {
  cudaStream_t stream;
  int math;
};
struct cudnnContext {
  cudaStream_t stream;
};
cublasStatus_t cublasCreate(cublasHandle_t *h) {
  if (!h) return CUBLAS_STATUS_INVALID_VALUE;
  *h = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char *cublasGetStatusString(cublasStatus_t s) { return cublasGetStatusName(s); }
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
  if (!h) return CUDNN_STATUS_BAD_PARAM;
  *h = new cudnnContext{nullptr};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
  if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
  delete h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUDNN_STATUS_SUCCESS;
}
const char *cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
  case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
  case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
  case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
  }
  return "CUDNN_STATUS_UNKNOWN";
}
