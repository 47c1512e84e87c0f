/**
 * The Backend interface: memory and kernels, nothing else. Everything above
 * `src/backend/` (tensors, autodiff, layers, methods) goes through it and never
 * asks which implementation it has. `cpu.ts` binds the native C library; a
 * CUDA backend implements the same interface over device memory.
 *
 * Kernels mirror the flat C ABI in `native/advssl.h`: storages, sizes and
 * scalars. Shapes are checked by the ops before they get here; the native side
 * checks its arguments again.
 * @module
 */

/** A block of backend memory holding `size` numbers (float32 or float64). */
export interface Storage {
  /** Address of the first element (host or device memory). */
  readonly ptr: Deno.PointerObject;
  /** Number of elements. */
  readonly size: number;
  /** The backend that owns the memory. */
  readonly backend: Backend;
}

/** Activation kinds, numbered as in the native ABI. */
export const Activation = {
  relu: 0,
  leakyRelu: 1,
  sigmoid: 2,
  tanh: 3,
} as const;
/** One of the activation kinds. */
export type ActivationKind = keyof typeof Activation;

/** Elementwise binary operations with broadcasting, numbered as in the ABI. */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3 } as const;
/** One of the broadcasting binary operations. */
export type BinaryOpKind = keyof typeof BinaryOp;

/** Geometry of a 2-d convolution or pooling window over NCHW data. */
export interface Conv2dGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  /** Output channels (convolution only; pooling keeps c). */
  k: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  oh: number;
  ow: number;
}

/** The storages Adam updates for one parameter: the parameter, its gradient, its two moments. */
export interface AdamSlot {
  p: Storage;
  g: Storage;
  m: Storage;
  v: Storage;
}

/** A typed array of the backend's precision. */
export type Numbers = Float32Array | Float64Array;

/**
 * Memory and kernels of one device. `acc` arguments choose between writing a
 * result (false) and adding it to what the output holds (true), so gradients
 * from several consumers accumulate without temporaries.
 */
export interface Backend {
  /** "cpu" or "cuda". */
  readonly name: string;
  /** Precision of every storage of this backend. */
  readonly precision: "f32" | "f64";

  // ---- memory ----
  /** A new storage of `size` elements, contents undefined. */
  alloc(size: number): Storage;
  /** Returns a storage from `alloc` to the backend (it may be cached for reuse). */
  free(s: Storage): void;
  /** A storage that aliases `size` elements of `s` from element `offset`; never freed. */
  view(s: Storage, offset: number, size: number): Storage;
  /** Bytes handed out by `alloc` and not yet freed. */
  liveBytes(): number;
  /** Bytes held in the backend's cache for reuse, beyond the live ones. */
  cachedBytes(): number;
  /** Releases cached memory to the system. */
  trim(): void;
  /** Copies host numbers into `s` from element `offset`. */
  write(s: Storage, data: ArrayLike<number>, offset?: number): void;
  /** Copies `s` to a new host array. */
  read(s: Storage): Numbers;
  fill(s: Storage, value: number): void;
  copy(dst: Storage, src: Storage): void;
  /** Waits until every queued kernel has finished (a no-op where kernels run synchronously). */
  synchronize(): void;
  /** Threads the kernels use. */
  setThreads(n: number): void;
  threads(): number;

  // ---- GEMM: c = alpha op(a) op(b) + beta c, row-major ----
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Storage,
    lda: number,
    b: Storage,
    ldb: number,
    beta: number,
    c: Storage,
    ldc: number,
  ): void;

  // ---- elementwise and reductions ----
  biasAdd(
    y: Storage,
    x: Storage,
    b: Storage,
    n: number,
    c: number,
    s: number,
  ): void;
  biasGrad(
    db: Storage,
    dy: Storage,
    n: number,
    c: number,
    s: number,
    acc: boolean,
  ): void;
  /** y = a x + b y */
  axpby(y: Storage, a: number, x: Storage, b: number, n: number): void;
  /** y = a x + c */
  affine(y: Storage, x: Storage, a: number, c: number, n: number): void;
  mul(out: Storage, a: Storage, b: Storage, n: number, acc: boolean): void;
  broadcastBinary(
    op: BinaryOpKind,
    out: Storage,
    outShape: Int32Array,
    a: Storage,
    aStrides: Int32Array,
    b: Storage,
    bStrides: Int32Array,
  ): void;
  sumTo(
    out: Storage,
    outStrides: Int32Array,
    x: Storage,
    xShape: Int32Array,
    acc: boolean,
  ): void;
  /** out[0] = scale * sum(x) */
  sum(out: Storage, x: Storage, n: number, scale: number): void;
  /** dx (+)= scale * g[0] everywhere */
  fillFromScalar(
    dx: Storage,
    g: Storage,
    scale: number,
    n: number,
    acc: boolean,
  ): void;
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
  ): void;
  activationForward(
    kind: ActivationKind,
    slope: number,
    x: Storage,
    y: Storage,
    n: number,
  ): void;
  activationBackward(
    kind: ActivationKind,
    slope: number,
    x: Storage,
    y: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    acc: boolean,
  ): void;
  l2NormalizeForward(
    x: Storage,
    y: Storage,
    n: number,
    d: number,
    eps: number,
  ): void;
  l2NormalizeBackward(
    x: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    d: number,
    eps: number,
    acc: boolean,
  ): void;
  countErrors(
    out: Storage,
    logits: Storage,
    labels: Storage,
    n: number,
    k: number,
  ): void;

  // ---- random numbers (Philox4x32-10; element i uses counter block offset + i/4) ----
  randUniform(
    out: Storage,
    n: number,
    lo: number,
    hi: number,
    seed: number,
    offset: number,
  ): void;
  randNormal(
    out: Storage,
    n: number,
    mean: number,
    std: number,
    seed: number,
    offset: number,
  ): void;
  dropoutForward(
    x: Storage,
    y: Storage,
    mask: Storage,
    n: number,
    p: number,
    seed: number,
    offset: number,
  ): void;

  // ---- convolution (weights k, c, kh, kw) and pooling ----
  conv2dForward(x: Storage, w: Storage, y: Storage, g: Conv2dGeometry): void;
  conv2dBackwardData(
    dy: Storage,
    w: Storage,
    dx: Storage,
    g: Conv2dGeometry,
    acc: boolean,
  ): void;
  conv2dBackwardFilter(
    x: Storage,
    dy: Storage,
    dw: Storage,
    g: Conv2dGeometry,
    acc: boolean,
  ): void;
  maxPoolForward(x: Storage, y: Storage, g: Conv2dGeometry): void;
  maxPoolBackward(
    x: Storage,
    dy: Storage,
    dx: Storage,
    g: Conv2dGeometry,
    acc: boolean,
  ): void;
  globalAvgPoolForward(x: Storage, y: Storage, nc: number, s: number): void;
  globalAvgPoolBackward(
    dy: Storage,
    dx: Storage,
    nc: number,
    s: number,
    acc: boolean,
  ): void;

  // ---- batch norm, x as (n, c, s) ----
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
  ): void;
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
  ): void;
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
  ): void;
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
  ): void;

  // ---- softmax and losses over rows of length k; losses are means over rows ----
  softmaxForward(
    x: Storage,
    y: Storage,
    n: number,
    k: number,
    log: boolean,
  ): void;
  softmaxBackward(
    y: Storage,
    dy: Storage,
    dx: Storage,
    n: number,
    k: number,
    log: boolean,
    acc: boolean,
  ): void;
  crossEntropyForward(
    logits: Storage,
    labels: Storage,
    loss: Storage,
    saveLogp: Storage,
    n: number,
    k: number,
  ): void;
  crossEntropyBackward(
    saveLogp: Storage,
    labels: Storage,
    g: Storage,
    dx: Storage,
    n: number,
    k: number,
    acc: boolean,
  ): void;
  klForward(
    a: Storage,
    b: Storage,
    loss: Storage,
    saveLogA: Storage,
    saveLogB: Storage,
    n: number,
    k: number,
  ): void;
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
  ): void;
  /** loss[0] = scale * sum (a - b)^2 */
  squaredErrorForward(
    a: Storage,
    b: Storage,
    loss: Storage,
    n: number,
    scale: number,
  ): void;
  squaredErrorBackward(
    a: Storage,
    b: Storage,
    g: Storage,
    da: Storage | null,
    db: Storage | null,
    n: number,
    scale: number,
    accA: boolean,
    accB: boolean,
  ): void;

  // ---- linear algebra ----
  /**
   * Symmetric eigendecomposition of the row-major (n, n) matrix in `a`, in
   * place: `w` gets the eigenvalues in ascending order and row i of `a` the
   * unit eigenvector of w[i] (computed in double precision).
   */
  symEig(a: Storage, w: Storage, n: number): void;

  // ---- optimiser ----
  /** One Adam update of every parameter in `slots` (one native call for all). */
  adamStep(
    slots: AdamSlot[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    weightDecay: number,
  ): void;
}
