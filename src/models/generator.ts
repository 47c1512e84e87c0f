/**
 * The paper's generator G(x, z) = decoder(encoder(x), z): z is standard
 * normal noise concatenated to the code. The output can be the decoder's
 * (free), x plus the decoder's (residual), x plus a tanh-bounded step
 * (bounded), or x plus the decoder's output scaled to a fixed L2 norm per
 * sample (normalized: G learns the direction, the radius is VAT's eps): the
 * last three are stabilisers we tried, not the paper's.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { Tensor } from "../autograd/tensor.ts";
import * as ops from "../ops/mod.ts";
import type { Rng } from "../ops/random.ts";
import { Module } from "../nn/module.ts";
import {
  BatchNorm,
  Conv2d,
  ConvTranspose2d,
  Flatten,
  Lambda,
  LeakyReLU,
  Linear,
  Sequential,
} from "../nn/layers.ts";
import { mlp } from "./mlp.ts";

/**
 * How the generator's output relates to x: a tagged choice whose parameters
 * exist only under their mode. `center` subtracts the batch mean of the
 * decoder's output before it becomes a step, so G cannot move every sample
 * the same way.
 */
export type GeneratorOutput =
  | { mode: "free" }
  | { mode: "residual"; center: boolean }
  | { mode: "bounded"; center: boolean; /** largest step per coordinate */ bound: number }
  | { mode: "normalized"; center: boolean; /** L2 norm of each sample's step */ radius: number };

/** Settings of a generator. */
export interface GeneratorOptions {
  zDim: number;
  output: GeneratorOutput;
}

/** Each column of (n, d) minus its mean over the n rows. */
export function centerRows(x: Tensor): Tensor {
  const n = x.shape[0];
  const avg = Tensor.full(x.backend, [1, n], 1 / n);
  return ops.sub(x, ops.matmul(avg, x));
}

/** An encoder-decoder generator over any encoder and decoder modules. */
export class Generator extends Module {
  constructor(
    readonly encoder: Module,
    readonly decoder: Module,
    readonly rng: Rng,
    readonly options: GeneratorOptions,
  ) {
    super();
    this.addChild("encoder", encoder);
    this.addChild("decoder", decoder);
  }

  /** G(x, z) with z drawn from the generator's own stream. */
  forward(x: Tensor): Tensor {
    return this.generate(x, ops.randn(x.backend, [x.shape[0], this.options.zDim], this.rng));
  }

  /** G(x, z) for a given z (n, zDim). */
  generate(x: Tensor, z: Tensor): Tensor {
    const code = this.encoder.forward(x);
    const out = this.decoder.forward(ops.concat([ops.flatten(code), z]));
    const o = this.options.output;
    if (o.mode === "free") return ops.reshape(out, x.shape);
    const step = ops.reshape(o.center ? centerRows(ops.flatten(out)) : out, x.shape);
    switch (o.mode) {
      case "residual":
        return ops.add(x, step);
      case "bounded":
        return ops.add(x, ops.scale(ops.tanh(step), o.bound));
      case "normalized":
        // The guard only keeps a zero step finite; the decoder's outputs are far larger.
        return ops.add(x, ops.scale(ops.l2Normalize(step, 1e-12), o.radius));
    }
  }

  encoderParameters(): Tensor[] {
    return this.encoder.parameters();
  }

  decoderParameters(): Tensor[] {
    return this.decoder.parameters();
  }
}

/** An MLP encoder-decoder for points or flat vectors: dim -> hidden -> code, code + z -> hidden -> dim. */
export function mlpGenerator(
  backend: Backend,
  rng: Rng,
  dim: number,
  hidden: number[],
  codeDim: number,
  options: GeneratorOptions,
): Generator {
  const encoder = mlp(backend, rng, [dim, ...hidden, codeDim], false);
  const decoder = mlp(backend, rng, [codeDim + options.zDim, ...[...hidden].reverse(), dim], false);
  return new Generator(encoder, decoder, rng.fork(), options);
}

/**
 * A convolutional encoder-decoder for c x h x w images (h and w divisible by
 * 4): two stride-2 convolutions down to a code, two stride-2 transposed
 * convolutions back, leaky ReLU between, batch norm in the decoder.
 */
export function convGenerator(
  backend: Backend,
  rng: Rng,
  image: [number, number, number],
  width: number,
  codeDim: number,
  options: GeneratorOptions,
): Generator {
  const [c, h, w] = image;
  if (h % 4 || w % 4) {
    throw new Error(`Cannot build a conv generator for ${h}x${w} images: sides must divide by 4`);
  }
  const [h4, w4] = [h / 4, w / 4];
  const flat = 2 * width * h4 * w4;
  const encoder = new Sequential(
    new Conv2d(backend, rng, c, width, 4, { stride: 2, padding: 1 }),
    LeakyReLU(0.2),
    new Conv2d(backend, rng, width, 2 * width, 4, { stride: 2, padding: 1 }),
    LeakyReLU(0.2),
    Flatten(),
    new Linear(backend, rng, flat, codeDim),
  );
  const decoder = new Sequential(
    new Linear(backend, rng, codeDim + options.zDim, flat),
    new Lambda("reshape", (x) => ops.reshape(x, [x.shape[0], 2 * width, h4, w4])),
    new BatchNorm(backend, 2 * width),
    LeakyReLU(0.2),
    new ConvTranspose2d(backend, rng, 2 * width, width, 4, { stride: 2, padding: 1 }),
    new BatchNorm(backend, width),
    LeakyReLU(0.2),
    new ConvTranspose2d(backend, rng, width, c, 4, { stride: 2, padding: 1 }),
  );
  return new Generator(encoder, decoder, rng.fork(), options);
}
