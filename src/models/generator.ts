/**
 * The paper's generator G(x, z) = decoder(encoder(x), z): z is standard
 * normal noise concatenated to the code. The output can be the decoder's
 * (free), x plus the decoder's (residual), x plus a tanh-bounded step
 * (bounded), or x plus the decoder's output scaled to a fixed L2 norm per
 * sample (normalized: G learns the direction, the radius is VAT's eps), or
 * x plus the change in the decoded image that a learned shift of the code
 * makes, scaled the same way (latent: the paper's "latent space" taken
 * literally, on an auto-encoder anchored by reconstruction): the last four
 * are stabilisers and leads we tried, not the paper's.
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
  | { mode: "normalized"; center: boolean; /** L2 norm of each sample's step */ radius: number }
  | {
    mode: "latent";
    center: boolean;
    /** L2 norm of each sample's step in the image */
    radius: number;
    /** L2 norm of the code's shift, as a fraction of the code's own norm */
    shift: number;
  };

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

/** The L2 norm of each row of (n, d), as a column (n, 1). */
export function rowNorms(x: Tensor): Tensor {
  // ||s|| = s . s / ||s||
  const ones = Tensor.full(x.backend, [x.shape[1], 1], 1);
  return ops.matmul(ops.mul(x, ops.l2Normalize(x, 1e-30)), ones);
}

/** G's output for a batch, and the reconstruction that L_rec compares with x. */
export interface Generated {
  output: Tensor;
  /** The decoder's image of x's own code (latent mode), else the output itself. */
  reconstruction: Tensor;
}

/**
 * An encoder-decoder generator over any encoder and decoder modules. In
 * latent mode a third module maps (code, z) to the code's shift, and the
 * decoder reads the code alone; otherwise the decoder reads (code, z).
 */
export class Generator extends Module {
  constructor(
    readonly encoder: Module,
    readonly decoder: Module,
    readonly rng: Rng,
    readonly options: GeneratorOptions,
    readonly shift: Module | null = null,
  ) {
    super();
    if ((options.output.mode === "latent") !== (shift !== null)) {
      throw new Error("Cannot build a generator: latent mode needs a shift module, no other mode");
    }
    this.addChild("encoder", encoder);
    this.addChild("decoder", decoder);
    if (shift) this.addChild("shift", shift);
  }

  /**
   * Whether L_rec = ||x - G(x, z)||^2 is the same for every x and z: in
   * normalized mode every step has the radius as its norm, so L_rec's
   * gradient is zero. Backpropagating it anyway gives float32 rounding noise
   * (1e-8 here), which Adam, scaling by its own running RMS, turns into
   * full-size random updates.
   */
  get reconstructionConstant(): boolean {
    return this.options.output.mode === "normalized";
  }

  /** G(x, z) with z drawn from the generator's own stream. */
  forward(x: Tensor): Tensor {
    return this.run(x).output;
  }

  /** G(x, z) and the reconstruction, with z drawn from the generator's own stream. */
  run(x: Tensor): Generated {
    return this.runWith(x, ops.randn(x.backend, [x.shape[0], this.options.zDim], this.rng));
  }

  /** G(x, z) for a given z (n, zDim). */
  generate(x: Tensor, z: Tensor): Tensor {
    return this.runWith(x, z).output;
  }

  /** G(x, z) and the reconstruction for a given z (n, zDim). */
  runWith(x: Tensor, z: Tensor): Generated {
    const code = ops.flatten(this.encoder.forward(x));
    const o = this.options.output;
    if (o.mode === "latent") return this.#latent(x, z, code, o);
    const out = this.decoder.forward(ops.concat([code, z]));
    const output = o.mode === "free" ? ops.reshape(out, x.shape) : this.#step(x, out, o);
    return { output, reconstruction: output };
  }

  /** x plus the decoder's output made a step by the output mode. */
  #step(x: Tensor, out: Tensor, o: Exclude<GeneratorOutput, { mode: "free" }>): Tensor {
    const step = ops.reshape(o.center ? centerRows(ops.flatten(out)) : out, x.shape);
    switch (o.mode) {
      case "residual":
        return ops.add(x, step);
      case "bounded":
        return ops.add(x, ops.scale(ops.tanh(step), o.bound));
      case "normalized":
      case "latent":
        // The guard only keeps a zero step finite; the decoder's outputs are far larger.
        return ops.add(x, ops.scale(ops.l2Normalize(step, 1e-12), o.radius));
    }
  }

  /**
   * dec(c + delta) - dec(c), normalized, with delta = shift * ||c|| times the
   * unit direction the shift module picks from (c, z). Both codes go through
   * the decoder in one batch, so its batch norm treats them alike and the
   * step is the shift's effect alone.
   */
  #latent(
    x: Tensor,
    z: Tensor,
    code: Tensor,
    o: Extract<GeneratorOutput, { mode: "latent" }>,
  ): Generated {
    const n = x.shape[0];
    const direction = ops.l2Normalize(this.shift!.forward(ops.concat([code, z])), 1e-12);
    const moved = ops.add(code, ops.mul(direction, ops.scale(rowNorms(code), o.shift)));
    const both = ops.flatten(this.decoder.forward(ops.concatRows([code, moved])));
    const own = ops.sliceRows(both, 0, n);
    const output = this.#step(x, ops.sub(ops.sliceRows(both, n, n), own), o);
    return { output, reconstruction: ops.reshape(own, x.shape) };
  }

  encoderParameters(): Tensor[] {
    return this.encoder.parameters();
  }

  decoderParameters(): Tensor[] {
    return this.decoder.parameters();
  }

  /** The encoder's and the decoder's parameters: what L_rec trains in latent mode. */
  autoencoderParameters(): Tensor[] {
    return [...this.encoderParameters(), ...this.decoderParameters()];
  }

  /** The shift module's parameters (latent mode), else none. */
  shiftParameters(): Tensor[] {
    return this.shift?.parameters() ?? [];
  }
}

/** The decoder's input width and, in latent mode, the shift module. */
function latentParts(
  backend: Backend,
  rng: Rng,
  codeDim: number,
  options: GeneratorOptions,
): { decoderIn: number; shift: Module | null } {
  if (options.output.mode !== "latent") return { decoderIn: codeDim + options.zDim, shift: null };
  return { decoderIn: codeDim, shift: new Linear(backend, rng, codeDim + options.zDim, codeDim) };
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
  const { decoderIn, shift } = latentParts(backend, rng, codeDim, options);
  const decoder = mlp(backend, rng, [decoderIn, ...[...hidden].reverse(), dim], false);
  return new Generator(encoder, decoder, rng.fork(), options, shift);
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
  const { decoderIn, shift } = latentParts(backend, rng, codeDim, options);
  const decoder = new Sequential(
    new Linear(backend, rng, decoderIn, flat),
    new Lambda("reshape", (x) => ops.reshape(x, [x.shape[0], 2 * width, h4, w4])),
    new BatchNorm(backend, 2 * width),
    LeakyReLU(0.2),
    new ConvTranspose2d(backend, rng, 2 * width, width, 4, { stride: 2, padding: 1 }),
    new BatchNorm(backend, width),
    LeakyReLU(0.2),
    new ConvTranspose2d(backend, rng, width, c, 4, { stride: 2, padding: 1 }),
  );
  return new Generator(encoder, decoder, rng.fork(), options, shift);
}
