/**
 * What the CPU and CUDA backends share: both libraries export the kernels of
 * `native/advssl.h` under the same names and signatures (host pointers in
 * one, device pointers in the other), so one class binds them all. The
 * backends differ only in how memory crosses to and from the host, and in
 * the few functions one library lacks.
 *
 * Memory is allocated by the library and cached here by exact size, so a
 * training step reuses the previous step's blocks instead of asking the
 * system (or cudaMalloc) again.
 * @module
 */
import type {
  ActivationKind,
  AdamSlot,
  Backend,
  BinaryOpKind,
  Conv2dGeometry,
  Numbers,
  Storage,
} from "./backend.ts";
import { Activation, BinaryOp } from "./backend.ts";
import type { Precision } from "../../build.ts";

/** A library opened by Deno.dlopen. */
export type NativeLibrary = Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>>;

/** The kernels both libraries export, by name: their parameter codes (p pointer, i int, r real, u uint64, b int buffer). */
export const SIGNATURES = {
  adv_set_num_threads: "i",
  adv_fill: "pir",
  adv_copy: "ppi",
  adv_gemm: "iiiiirpipirpi",
  adv_bias_add: "pppiii",
  adv_bias_grad: "ppiiii",
  adv_axpby: "prpri",
  adv_affine: "pprri",
  adv_mul: "pppii",
  adv_broadcast_binary: "ipbipbpb",
  adv_sum_to: "pbpbii",
  adv_sum: "ppir",
  adv_fill_from_scalar: "pprii",
  adv_copy_rows: "pipiiii",
  adv_act_forward: "irppi",
  adv_act_backward: "irppppii",
  adv_l2norm_forward: "ppiir",
  adv_l2norm_backward: "pppiiri",
  adv_count_errors: "pppii",
  adv_rand_uniform: "pirruu",
  adv_rand_normal: "pirruu",
  adv_dropout_forward: "pppiruu",
  adv_conv2d_forward: "pppiiiiiiiiiiiii",
  adv_conv2d_backward_data: "pppiiiiiiiiiiiiii",
  adv_conv2d_backward_filter: "pppiiiiiiiiiiiiii",
  adv_maxpool_forward: "ppiiiiiiiiiiii",
  adv_maxpool_backward: "pppiiiiiiiiiiiii",
  adv_global_avgpool_forward: "ppii",
  adv_global_avgpool_backward: "ppiii",
  adv_batchnorm_forward_train: "ppppppppiiirri",
  adv_batchnorm_forward_infer: "ppppppiiir",
  adv_batchnorm_backward_train: "ppppppppiiiii",
  adv_batchnorm_backward_infer: "ppppppppiiirii",
  adv_softmax_forward: "ppiii",
  adv_softmax_backward: "pppiiii",
  adv_cross_entropy_forward: "ppppii",
  adv_cross_entropy_backward: "ppppiii",
  adv_kl_forward: "pppppii",
  adv_kl_backward: "pppppiiii",
  adv_sq_error_forward: "pppir",
  adv_sq_error_backward: "pppppirii",
  adv_adam_step: "ibbrrrrrrr",
} as const;

/** Kernels only the CPU library has. */
export const CPU_ONLY_SIGNATURES = { adv_sym_eig: "ppi" } as const;

export type KernelName = keyof typeof SIGNATURES;

/**
 * The Deno.dlopen symbol table of a library: the runtime functions every
 * library has (errors, memory, threads), the shared kernels, the library's
 * `extra` kernels and its own `runtime` functions.
 */
export function symbols(
  precision: Precision,
  extra: Record<string, string>,
  runtime: Record<string, Deno.ForeignFunction>,
) {
  const real = precision === "f32" ? "f32" : "f64";
  const codes: Record<string, Deno.NativeType> = {
    p: "pointer",
    i: "i32",
    r: real,
    u: "u64",
    b: "buffer",
  };
  const defs: Record<string, Deno.ForeignFunction> = {
    adv_last_error: { parameters: [], result: "pointer" },
    adv_real_size: { parameters: [], result: "i32" },
    adv_alloc: { parameters: ["i64"], result: "pointer" },
    adv_free: { parameters: ["pointer"], result: "void" },
    adv_get_num_threads: { parameters: [], result: "i32" },
  };
  Object.assign(defs, runtime);
  for (const [name, sig] of Object.entries({ ...SIGNATURES, ...extra })) {
    defs[name] = { parameters: [...sig].map((c) => codes[c]), result: "i32" };
  }
  return defs;
}

// deno-lint-ignore no-explicit-any
export type Kernel = (...args: any[]) => void;

/** Turns a status-returning native function into one that throws on failure. */
export function checked(
  lib: NativeLibrary,
  name: string,
): Kernel {
  const fn = lib.symbols[name] as (...args: unknown[]) => number;
  const op = name.replace(/^adv_/, "");
  return (...args: unknown[]) => {
    if (fn(...args) !== 0) {
      const msg = lib.symbols.adv_last_error() as Deno.PointerValue;
      const text = msg ? Deno.UnsafePointerView.getCString(msg) : "unknown error";
      throw new Error(`Cannot run native kernel ${op}: ${text}`);
    }
  };
}

const b = (flag: boolean) => (flag ? 1 : 0);

class NativeStorage implements Storage {
  constructor(
    readonly ptr: Deno.PointerObject,
    readonly size: number,
    readonly backend: NativeBackend,
  ) {}
}

/**
 * A backend over one native library. Subclasses say how numbers cross
 * between the host and the library's memory.
 */
export abstract class NativeBackend implements Backend {
  abstract readonly name: string;
  /** Bytes per number. */
  protected readonly bytes: number;
  /** The library's kernels, throwing on a failed status. */
  protected readonly k: Record<KernelName, Kernel>;
  readonly #cache = new Map<number, Deno.PointerObject[]>();
  #live = 0;
  #cached = 0;

  constructor(
    readonly precision: Precision,
    protected readonly lib: NativeLibrary,
    path: string,
  ) {
    this.bytes = lib.symbols.adv_real_size() as number;
    const expected = precision === "f32" ? 4 : 8;
    if (this.bytes !== expected) {
      throw new Error(`Cannot use ${path}: it holds ${this.bytes}-byte reals, not ${expected}`);
    }
    this.k = Object.fromEntries(
      Object.keys(SIGNATURES).map((n) => [n, checked(lib, n)]),
    ) as Record<KernelName, Kernel>;
  }

  // ---- memory ----
  abstract write(s: Storage, data: ArrayLike<number>, offset?: number): void;
  abstract read(s: Storage): Numbers;
  abstract synchronize(): void;
  abstract symEig(a: Storage, w: Storage, n: number): void;

  alloc(size: number): Storage {
    if (!Number.isInteger(size) || size <= 0) throw new Error(`Cannot allocate ${size} elements`);
    const bytes = size * this.bytes;
    let ptr = this.#cache.get(size)?.pop();
    if (ptr) {
      this.#cached -= bytes;
    } else {
      ptr = this.#allocate(bytes);
      if (!ptr) {
        this.trim();
        ptr = this.#allocate(bytes);
        if (!ptr) {
          const why = Deno.UnsafePointerView.getCString(
            this.lib.symbols.adv_last_error() as Deno.PointerObject,
          );
          throw new Error(`Cannot allocate ${bytes} bytes on the ${this.name} backend: ${why}`);
        }
      }
    }
    this.#live += bytes;
    return new NativeStorage(ptr, size, this);
  }

  #allocate(bytes: number): Deno.PointerObject | undefined {
    return this.lib.symbols.adv_alloc(BigInt(bytes)) as Deno.PointerObject | null ?? undefined;
  }

  free(s: Storage): void {
    const bytes = s.size * this.bytes;
    this.#live -= bytes;
    this.#cached += bytes;
    const list = this.#cache.get(s.size);
    if (list) list.push(s.ptr);
    else this.#cache.set(s.size, [s.ptr]);
  }

  view(s: Storage, offset: number, size: number): Storage {
    if (offset < 0 || size <= 0 || offset + size > s.size) {
      throw new Error(
        `Cannot view [${offset}, ${offset + size}) of a storage of ${s.size} elements`,
      );
    }
    return new NativeStorage(this.pointerAt(s, offset), size, this);
  }

  /** The address of element `offset` of a storage. */
  protected pointerAt(s: Storage, offset: number): Deno.PointerObject {
    return offset === 0 ? s.ptr : Deno.UnsafePointer.offset(s.ptr, offset * this.bytes)!;
  }

  liveBytes(): number {
    return this.#live;
  }

  cachedBytes(): number {
    return this.#cached;
  }

  trim(): void {
    for (const list of this.#cache.values()) for (const p of list) this.lib.symbols.adv_free(p);
    this.#cache.clear();
    this.#cached = 0;
  }

  fill(s: Storage, value: number): void {
    this.k.adv_fill(s.ptr, s.size, value);
  }

  copy(dst: Storage, src: Storage): void {
    if (dst.size !== src.size) throw new Error(`Cannot copy ${src.size} elements into ${dst.size}`);
    this.k.adv_copy(dst.ptr, src.ptr, src.size);
  }

  setThreads(n: number): void {
    this.k.adv_set_num_threads(n);
  }

  threads(): number {
    return this.lib.symbols.adv_get_num_threads() as number;
  }

  // ---- kernels ----
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Storage,
    lda: number,
    bm: Storage,
    ldb: number,
    beta: number,
    c: Storage,
    ldc: number,
  ): void {
    this.k.adv_gemm(
      b(transA),
      b(transB),
      m,
      n,
      k,
      alpha,
      a.ptr,
      lda,
      bm.ptr,
      ldb,
      beta,
      c.ptr,
      ldc,
    );
  }
  biasAdd(y: Storage, x: Storage, bias: Storage, n: number, c: number, s: number): void {
    this.k.adv_bias_add(y.ptr, x.ptr, bias.ptr, n, c, s);
  }
  biasGrad(db: Storage, dy: Storage, n: number, c: number, s: number, acc: boolean): void {
    this.k.adv_bias_grad(db.ptr, dy.ptr, n, c, s, b(acc));
  }
  axpby(y: Storage, a: number, x: Storage, beta: number, n: number): void {
    this.k.adv_axpby(y.ptr, a, x.ptr, beta, n);
  }
  affine(y: Storage, x: Storage, a: number, c: number, n: number): void {
    this.k.adv_affine(y.ptr, x.ptr, a, c, n);
  }
  mul(out: Storage, a: Storage, bb: Storage, n: number, acc: boolean): void {
    this.k.adv_mul(out.ptr, a.ptr, bb.ptr, n, b(acc));
  }
  broadcastBinary(
    op: BinaryOpKind,
    out: Storage,
    outShape: Int32Array,
    a: Storage,
    aStrides: Int32Array,
    bb: Storage,
    bStrides: Int32Array,
  ): void {
    this.k.adv_broadcast_binary(
      BinaryOp[op],
      out.ptr,
      outShape,
      outShape.length,
      a.ptr,
      aStrides,
      bb.ptr,
      bStrides,
    );
  }
  sumTo(out: Storage, outStrides: Int32Array, x: Storage, xShape: Int32Array, acc: boolean): void {
    this.k.adv_sum_to(out.ptr, outStrides, x.ptr, xShape, xShape.length, b(acc));
  }
  sum(out: Storage, x: Storage, n: number, scale: number): void {
    this.k.adv_sum(out.ptr, x.ptr, n, scale);
  }
  fillFromScalar(dx: Storage, g: Storage, scale: number, n: number, acc: boolean): void {
    this.k.adv_fill_from_scalar(dx.ptr, g.ptr, scale, n, b(acc));
  }
  copyRows(
    dst: Storage,
    dstOffset: number,
    dstStride: number,
    src: Storage,
    srcOffset: number,
    srcStride: number,
    rows: number,
    len: number,
    acc: boolean,
  ): void {
    this.k.adv_copy_rows(
      this.pointerAt(dst, dstOffset),
      dstStride,
      this.pointerAt(src, srcOffset),
      srcStride,
      rows,
      len,
      b(acc),
    );
  }
  activationForward(kind: ActivationKind, slope: number, x: Storage, y: Storage, n: number): void {
    this.k.adv_act_forward(Activation[kind], slope, x.ptr, y.ptr, n);
  }
  activationBackward(
    kind: ActivationKind,
    slope: number,
    x: Storage,
    y: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    acc: boolean,
  ): void {
    this.k.adv_act_backward(Activation[kind], slope, x.ptr, y.ptr, dy.ptr, dx.ptr, n, b(acc));
  }
  l2NormalizeForward(x: Storage, y: Storage, n: number, d: number, eps: number): void {
    this.k.adv_l2norm_forward(x.ptr, y.ptr, n, d, eps);
  }
  l2NormalizeBackward(
    x: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    d: number,
    eps: number,
    acc: boolean,
  ): void {
    this.k.adv_l2norm_backward(x.ptr, dy.ptr, dx.ptr, n, d, eps, b(acc));
  }
  countErrors(out: Storage, logits: Storage, labels: Storage, n: number, k: number): void {
    this.k.adv_count_errors(out.ptr, logits.ptr, labels.ptr, n, k);
  }
  randUniform(out: Storage, n: number, lo: number, hi: number, seed: number, offset: number): void {
    this.k.adv_rand_uniform(out.ptr, n, lo, hi, BigInt(seed), BigInt(offset));
  }
  randNormal(
    out: Storage,
    n: number,
    mean: number,
    std: number,
    seed: number,
    offset: number,
  ): void {
    this.k.adv_rand_normal(out.ptr, n, mean, std, BigInt(seed), BigInt(offset));
  }
  dropoutForward(
    x: Storage,
    y: Storage,
    mask: Storage,
    n: number,
    p: number,
    seed: number,
    offset: number,
  ): void {
    this.k.adv_dropout_forward(x.ptr, y.ptr, mask.ptr, n, p, BigInt(seed), BigInt(offset));
  }
  conv2dForward(x: Storage, w: Storage, y: Storage, g: Conv2dGeometry): void {
    this.k.adv_conv2d_forward(x.ptr, w.ptr, y.ptr, ...geometry(g));
  }
  conv2dBackwardData(dy: Storage, w: Storage, dx: Storage, g: Conv2dGeometry, acc: boolean): void {
    this.k.adv_conv2d_backward_data(dy.ptr, w.ptr, dx.ptr, ...geometry(g), b(acc));
  }
  conv2dBackwardFilter(
    x: Storage,
    dy: Storage,
    dw: Storage,
    g: Conv2dGeometry,
    acc: boolean,
  ): void {
    this.k.adv_conv2d_backward_filter(x.ptr, dy.ptr, dw.ptr, ...geometry(g), b(acc));
  }
  maxPoolForward(x: Storage, y: Storage, g: Conv2dGeometry): void {
    this.k.adv_maxpool_forward(x.ptr, y.ptr, ...poolGeometry(g));
  }
  maxPoolBackward(x: Storage, dy: Storage, dx: Storage, g: Conv2dGeometry, acc: boolean): void {
    this.k.adv_maxpool_backward(x.ptr, dy.ptr, dx.ptr, ...poolGeometry(g), b(acc));
  }
  globalAvgPoolForward(x: Storage, y: Storage, nc: number, s: number): void {
    this.k.adv_global_avgpool_forward(x.ptr, y.ptr, nc, s);
  }
  globalAvgPoolBackward(dy: Storage, dx: Storage, nc: number, s: number, acc: boolean): void {
    this.k.adv_global_avgpool_backward(dy.ptr, dx.ptr, nc, s, b(acc));
  }
  batchNormForwardTrain(
    x: Storage,
    gamma: Storage,
    beta: Storage,
    y: Storage,
    saveMean: Storage,
    saveInvStd: Storage,
    runningMean: Storage,
    runningVar: Storage,
    n: number,
    c: number,
    s: number,
    momentum: number,
    eps: number,
    updateRunning: boolean,
  ): void {
    this.k.adv_batchnorm_forward_train(
      x.ptr,
      gamma.ptr,
      beta.ptr,
      y.ptr,
      saveMean.ptr,
      saveInvStd.ptr,
      runningMean.ptr,
      runningVar.ptr,
      n,
      c,
      s,
      momentum,
      eps,
      b(updateRunning),
    );
  }
  batchNormForwardInfer(
    x: Storage,
    gamma: Storage,
    beta: Storage,
    runningMean: Storage,
    runningVar: Storage,
    y: Storage,
    n: number,
    c: number,
    s: number,
    eps: number,
  ): void {
    this.k.adv_batchnorm_forward_infer(
      x.ptr,
      gamma.ptr,
      beta.ptr,
      runningMean.ptr,
      runningVar.ptr,
      y.ptr,
      n,
      c,
      s,
      eps,
    );
  }
  batchNormBackwardTrain(
    x: Storage,
    gamma: Storage,
    saveMean: Storage,
    saveInvStd: Storage,
    dy: Storage,
    dx: Storage | null,
    dgamma: Storage | null,
    dbeta: Storage | null,
    n: number,
    c: number,
    s: number,
    accDx: boolean,
    accParams: boolean,
  ): void {
    this.k.adv_batchnorm_backward_train(
      x.ptr,
      gamma.ptr,
      saveMean.ptr,
      saveInvStd.ptr,
      dy.ptr,
      dx?.ptr ?? null,
      dgamma?.ptr ?? null,
      dbeta?.ptr ?? null,
      n,
      c,
      s,
      b(accDx),
      b(accParams),
    );
  }
  batchNormBackwardInfer(
    x: Storage,
    gamma: Storage,
    runningMean: Storage,
    runningVar: Storage,
    dy: Storage,
    dx: Storage | null,
    dgamma: Storage | null,
    dbeta: Storage | null,
    n: number,
    c: number,
    s: number,
    eps: number,
    accDx: boolean,
    accParams: boolean,
  ): void {
    this.k.adv_batchnorm_backward_infer(
      x.ptr,
      gamma.ptr,
      runningMean.ptr,
      runningVar.ptr,
      dy.ptr,
      dx?.ptr ?? null,
      dgamma?.ptr ?? null,
      dbeta?.ptr ?? null,
      n,
      c,
      s,
      eps,
      b(accDx),
      b(accParams),
    );
  }
  softmaxForward(x: Storage, y: Storage, n: number, k: number, log: boolean): void {
    this.k.adv_softmax_forward(x.ptr, y.ptr, n, k, b(log));
  }
  softmaxBackward(
    y: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    k: number,
    log: boolean,
    acc: boolean,
  ): void {
    this.k.adv_softmax_backward(y.ptr, dy.ptr, dx.ptr, n, k, b(log), b(acc));
  }
  crossEntropyForward(
    logits: Storage,
    labels: Storage,
    loss: Storage,
    saveLogp: Storage,
    n: number,
    k: number,
  ): void {
    this.k.adv_cross_entropy_forward(logits.ptr, labels.ptr, loss.ptr, saveLogp.ptr, n, k);
  }
  crossEntropyBackward(
    saveLogp: Storage,
    labels: Storage,
    g: Storage,
    dx: Storage,
    n: number,
    k: number,
    acc: boolean,
  ): void {
    this.k.adv_cross_entropy_backward(saveLogp.ptr, labels.ptr, g.ptr, dx.ptr, n, k, b(acc));
  }
  klForward(
    a: Storage,
    bb: Storage,
    loss: Storage,
    saveLogA: Storage,
    saveLogB: Storage,
    n: number,
    k: number,
  ): void {
    this.k.adv_kl_forward(a.ptr, bb.ptr, loss.ptr, saveLogA.ptr, saveLogB.ptr, n, k);
  }
  klBackward(
    saveLogA: Storage,
    saveLogB: Storage,
    g: Storage,
    da: Storage | null,
    db: Storage | null,
    n: number,
    k: number,
    accA: boolean,
    accB: boolean,
  ): void {
    this.k.adv_kl_backward(
      saveLogA.ptr,
      saveLogB.ptr,
      g.ptr,
      da?.ptr ?? null,
      db?.ptr ?? null,
      n,
      k,
      b(accA),
      b(accB),
    );
  }
  squaredErrorForward(a: Storage, bb: Storage, loss: Storage, n: number, scale: number): void {
    this.k.adv_sq_error_forward(a.ptr, bb.ptr, loss.ptr, n, scale);
  }
  squaredErrorBackward(
    a: Storage,
    bb: Storage,
    g: Storage,
    da: Storage | null,
    db: Storage | null,
    n: number,
    scale: number,
    accA: boolean,
    accB: boolean,
  ): void {
    this.k.adv_sq_error_backward(
      a.ptr,
      bb.ptr,
      g.ptr,
      da?.ptr ?? null,
      db?.ptr ?? null,
      n,
      scale,
      b(accA),
      b(accB),
    );
  }
  adamStep(
    slots: AdamSlot[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    weightDecay: number,
  ): void {
    if (!slots.length) return;
    const ptrs = new BigInt64Array(4 * slots.length);
    const sizes = new Int32Array(slots.length);
    slots.forEach((s, t) => {
      if (s.g.size !== s.p.size || s.m.size !== s.p.size || s.v.size !== s.p.size) {
        throw new Error(`Cannot run Adam on tensor ${t}: p, g, m and v differ in size`);
      }
      ptrs[4 * t] = BigInt(Deno.UnsafePointer.value(s.p.ptr));
      ptrs[4 * t + 1] = BigInt(Deno.UnsafePointer.value(s.g.ptr));
      ptrs[4 * t + 2] = BigInt(Deno.UnsafePointer.value(s.m.ptr));
      ptrs[4 * t + 3] = BigInt(Deno.UnsafePointer.value(s.v.ptr));
      sizes[t] = s.p.size;
    });
    this.k.adv_adam_step(slots.length, ptrs, sizes, lr, beta1, beta2, eps, bc1, bc2, weightDecay);
  }
}

function geometry(g: Conv2dGeometry): number[] {
  return [g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow];
}

function poolGeometry(g: Conv2dGeometry): number[] {
  return [g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow];
}
