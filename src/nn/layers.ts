/**
 * Layers built from ops, with PyTorch's default initialisations: weights and
 * biases uniform in +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)),
 * batch-norm scale 1 and shift 0.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { noGrad } from "../autograd/tape.ts";
import { scope, Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import { Module } from "./module.ts";

function uniformInit(backend: Backend, shape: number[], fanIn: number, rng: Rng): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return ops.randUniform(backend, shape, rng, -bound, bound);
}

/** y = x W^T + b, W (out, in). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    backend: Backend,
    rng: Rng,
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.addParameter(
      "weight",
      () => uniformInit(backend, [outFeatures, inFeatures], inFeatures, rng),
    );
    this.bias = bias
      ? this.addParameter("bias", () => uniformInit(backend, [outFeatures], inFeatures, rng))
      : null;
  }

  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

/** Options of the convolution layers. */
export interface Conv2dLayerOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/** 2-d convolution, weight (out, in, k, k). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    backend: Backend,
    rng: Rng,
    inChannels: number,
    outChannels: number,
    kernel: number,
    readonly options: Conv2dLayerOptions = {},
  ) {
    super();
    const fanIn = inChannels * kernel * kernel;
    this.weight = this.addParameter(
      "weight",
      () => uniformInit(backend, [outChannels, inChannels, kernel, kernel], fanIn, rng),
    );
    this.bias = options.bias === false
      ? null
      : this.addParameter("bias", () => uniformInit(backend, [outChannels], fanIn, rng));
  }

  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, this.options);
  }
}

/** Transposed 2-d convolution, weight (in, out, k, k) as PyTorch's. */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    backend: Backend,
    rng: Rng,
    inChannels: number,
    outChannels: number,
    kernel: number,
    readonly options: Conv2dLayerOptions & { outputPadding?: number } = {},
  ) {
    super();
    // PyTorch computes the fan-in of a transposed convolution from weight.size(1).
    const fanIn = outChannels * kernel * kernel;
    this.weight = this.addParameter(
      "weight",
      () => uniformInit(backend, [inChannels, outChannels, kernel, kernel], fanIn, rng),
    );
    this.bias = options.bias === false
      ? null
      : this.addParameter("bias", () => uniformInit(backend, [outChannels], fanIn, rng));
  }

  forward(x: Tensor): Tensor {
    return ops.convTranspose2d(x, this.weight, this.bias, this.options);
  }
}

let statsFrozen = false;

/**
 * Runs `fn` with batch norm using batch statistics as usual but leaving the
 * running statistics alone: VAT's perturbed forward passes need this.
 */
export function withFrozenBatchNormStats<T>(fn: () => T): T {
  const saved = statsFrozen;
  statsFrozen = true;
  try {
    return fn();
  } finally {
    statsFrozen = saved;
  }
}

/** A batch's per-channel mean and (biased) variance, as a pass recorded them. */
export interface ChannelStats {
  mean: Tensor;
  variance: Tensor;
}

/**
 * Where training-mode batch norm takes its statistics inside a pass: its own
 * batch's (the default), the running ones, or, layer by layer, those another
 * pass recorded (so two batches can be normalised alike without sharing one).
 */
type StatsSource =
  | { kind: "batch" }
  | { kind: "running" }
  | { kind: "record"; stats: Map<BatchNorm, ChannelStats> }
  | { kind: "replay"; stats: Map<BatchNorm, ChannelStats> };

let statsSource: StatsSource = { kind: "batch" };

function withStatsSource<T>(source: StatsSource, fn: () => T): T {
  const saved = statsSource;
  statsSource = source;
  try {
    return fn();
  } finally {
    statsSource = saved;
  }
}

/** Runs `fn` with every batch norm normalising by its running statistics (as in evaluation). */
export function withRunningBatchNormStats<T>(fn: () => T): T {
  return withStatsSource({ kind: "running" }, fn);
}

/**
 * Runs `fn` (a pass with batch statistics as usual) and returns its result
 * with the statistics each batch norm layer saw, for replayBatchNormStats.
 */
export function recordBatchNormStats<T>(
  fn: () => T,
): { result: T; stats: Map<BatchNorm, ChannelStats> } {
  const stats = new Map<BatchNorm, ChannelStats>();
  const result = withStatsSource({ kind: "record", stats }, fn);
  return { result, stats };
}

/**
 * Runs `fn` with each batch norm normalising by the statistics it recorded
 * (held constant); a layer without a record is an error.
 */
export function replayBatchNormStats<T>(stats: Map<BatchNorm, ChannelStats>, fn: () => T): T {
  return withStatsSource({ kind: "replay", stats }, fn);
}

/** Per-channel mean and biased variance of (n, c) or (n, c, h, w), without gradient. */
function channelStats(x: Tensor): ChannelStats {
  return noGrad(() => {
    const [n, c] = x.shape;
    const s = x.size / (n * c);
    const be = x.backend;
    // Row sums of (n c, s), then the mean over n as a product with a row of 1/n.
    const perSample = (t: Tensor) =>
      ops.reshape(ops.matmul(ops.reshape(t, [n * c, s]), Tensor.full(be, [s, 1], 1 / s)), [n, c]);
    const overBatch = (t: Tensor) =>
      ops.reshape(ops.matmul(Tensor.full(be, [1, n], 1 / n), t), [c]);
    const mean = overBatch(perSample(x));
    const meanSquare = overBatch(perSample(ops.mul(x, x)));
    return { mean, variance: ops.relu(ops.sub(meanSquare, ops.mul(mean, mean))) };
  });
}

/** Batch norm over (n, c) or (n, c, h, w). */
export class BatchNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(
    backend: Backend,
    readonly channels: number,
    /** The running statistics' step toward each batch's (changed only by re-estimation). */
    public momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParameter("weight", () => Tensor.full(backend, [channels], 1));
    this.bias = this.addParameter("bias", () => Tensor.zeros(backend, [channels]));
    this.runningMean = this.addBuffer("running_mean", () => Tensor.zeros(backend, [channels]));
    this.runningVar = this.addBuffer("running_var", () => Tensor.full(backend, [channels], 1));
  }

  forward(x: Tensor): Tensor {
    const source = statsSource;
    if (!this.training || source.kind === "batch") {
      return ops.batchNorm(x, this.weight, this.bias, this, this.training, !statsFrozen);
    }
    if (source.kind === "running") return ops.batchNorm(x, this.weight, this.bias, this, false);
    if (source.kind === "record") {
      source.stats.set(this, channelStats(x));
      return ops.batchNorm(x, this.weight, this.bias, this, true, !statsFrozen);
    }
    const seen = source.stats.get(this);
    if (!seen) throw new Error("Cannot replay batch-norm statistics: this layer recorded none");
    const fixed = { runningMean: seen.mean, runningVar: seen.variance, momentum: 0, eps: this.eps };
    return ops.batchNorm(x, this.weight, this.bias, fixed, false);
  }
}

/**
 * Re-estimates every batch norm's running statistics of `model` as the
 * plain average of the statistics of `batches` (VAT's test.py re-estimates
 * them on training batches before testing). Only batch norm runs in
 * training mode meanwhile: dropout and noise stay off, as at test time, and
 * draw nothing from their streams. Call it without gradients; the model's
 * modes are restored.
 */
export function reestimateBatchNorm(model: Module, batches: Iterable<Tensor>): void {
  const layers = [...model.modules()];
  const norms = layers.filter((m): m is BatchNorm => m instanceof BatchNorm);
  if (norms.length === 0) return;
  const modes = layers.map((m) => m.training);
  const momenta = norms.map((n) => n.momentum);
  for (const m of layers) m.training = m instanceof BatchNorm;
  try {
    let k = 0;
    for (const x of batches) {
      // Step 1 / (k + 1): after batch k the running value is the mean over batches 0..k.
      for (const n of norms) n.momentum = 1 / (k + 1);
      scope(() => void model.forward(x));
      k++;
    }
  } finally {
    norms.forEach((n, i) => n.momentum = momenta[i]);
    layers.forEach((m, i) => m.training = modes[i]);
  }
}

/** Inverted dropout, active in training mode only. */
export class Dropout extends Module {
  constructor(readonly p: number, readonly rng: Rng) {
    super();
    this.addRng("rng", rng);
  }

  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? ops.dropout(x, this.p, this.rng) : x;
  }
}

/** Additive Gaussian noise, active in training mode only (VAT's Conv-Large input noise). */
export class GaussianNoise extends Module {
  constructor(readonly std: number, readonly rng: Rng) {
    super();
    this.addRng("rng", rng);
  }

  forward(x: Tensor): Tensor {
    return this.training && this.std > 0 ? ops.gaussianNoise(x, this.std, this.rng) : x;
  }
}

/** A module wrapping a parameter-free function of one tensor. */
export class Lambda extends Module {
  constructor(readonly label: string, readonly fn: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export const ReLU = (): Lambda => new Lambda("relu", ops.relu);
export const LeakyReLU = (slope = 0.1): Lambda =>
  new Lambda("leakyRelu", (x) => ops.leakyRelu(x, slope));
export const Sigmoid = (): Lambda => new Lambda("sigmoid", ops.sigmoid);
export const Tanh = (): Lambda => new Lambda("tanh", ops.tanh);
export const Flatten = (): Lambda => new Lambda("flatten", ops.flatten);
export const MaxPool2d = (kernel: number, stride = kernel, padding = 0): Lambda =>
  new Lambda("maxPool2d", (x) => ops.maxPool2d(x, { kernel, stride, padding }));
export const GlobalAvgPool2d = (): Lambda => new Lambda("globalAvgPool2d", ops.globalAvgPool2d);

/** Modules applied in order. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.addChild(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}
