/**
 * The classifier networks and generators a run can choose (--model,
 * --generator), sized from the data set's sample shape and classes.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { convGenerator, mlpGenerator } from "../models/generator.ts";
import { convLarge, convSmall } from "../models/convnet.ts";
import { mlp } from "../models/mlp.ts";
import type { GeneratorEntry, ModelEntry } from "./registry.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Conv-Large and Conv-Small take c x 32 x 32 images. */
function imageShape(model: string, shape: number[]): number {
  if (shape.length !== 3 || shape[1] !== 32 || shape[2] !== 32) {
    throw new UserError(
      `Cannot use --model ${model} for samples of shape ${
        shape.join("x")
      }: it takes c x 32 x 32 images (SVHN, CIFAR-10)`,
    );
  }
  return shape[0];
}

const topBn = {
  kind: "bool",
  help: "batch norm on the logits (vat_tf's --top_bn: on for SVHN, off for CIFAR-10)",
} as const;
const dropout = {
  kind: "number",
  min: 0,
  max: 0.99,
  help: "dropout probability after each max-pool (VAT: 0.5)",
} as const;

/** Classifiers by name. */
export const MODELS: Record<string, ModelEntry> = {
  mlp: {
    help:
      "fully connected: input, --hidden layers with ReLU, classes (the paper's circles MLP; VAT's MNIST MLP with --batch-norm)",
    options: {
      hidden: { kind: "ints", min: 1, help: "sizes of the hidden layers" },
      batchNorm: { kind: "bool", help: "batch norm after every linear layer (VAT's MLP)" },
    },
    build: (backend, rng, data, cfg) =>
      mlp(
        backend,
        rng,
        [size(data.shape), ...cfg.ints("hidden"), data.classes],
        cfg.bool("batchNorm"),
      ),
  },
  "conv-large": {
    help: "VAT's Conv-Large (TPAMI 2018, Table 7; vat_tf cnn.py): 3.1 M parameters",
    options: { topBn, dropout },
    build: (backend, rng, data, cfg) =>
      convLarge(backend, rng, {
        inChannels: imageShape("conv-large", data.shape),
        classes: data.classes,
        topBn: cfg.bool("topBn"),
        dropout: cfg.number("dropout"),
      }),
  },
  "conv-small": {
    help: "VAT's Conv-Small (TPAMI 2018, Table 7): widths 96/192 for CIFAR-10, 64/128 for SVHN",
    options: {
      topBn,
      dropout,
      widths: { kind: "ints", min: 1, help: "channels of its two stages (two numbers)" },
    },
    build(backend, rng, data, cfg) {
      const widths = cfg.ints("widths");
      if (widths.length !== 2) {
        throw new UserError(`Cannot use --widths ${widths}: expected two numbers, as 96,192`);
      }
      return convSmall(backend, rng, {
        inChannels: imageShape("conv-small", data.shape),
        classes: data.classes,
        topBn: cfg.bool("topBn"),
        dropout: cfg.number("dropout"),
        widths: widths as [number, number],
      });
    },
  },
};

/** Generators by name. */
export const GENERATORS: Record<string, GeneratorEntry> = {
  mlp: {
    help: "MLP encoder-decoder for points: d-64-64-8 encoder, code + z -> 64-64-d decoder",
    build(backend, rng, shape, options) {
      if (shape.length !== 1) {
        throw new UserError(
          `Cannot use --generator mlp for samples of shape ${
            shape.join("x")
          }: it takes points (use --generator conv for images)`,
        );
      }
      return mlpGenerator(backend, rng, shape[0], [64, 64], 8, options);
    },
  },
  conv: {
    help:
      "conv encoder (two stride-2 4x4 convs) and transposed-conv decoder with z, for c x h x w images (h, w divisible by 4)",
    options: {
      gWidth: {
        kind: "int",
        min: 1,
        max: 1024,
        help: "channels of the first conv (the second has twice as many; our choice)",
      },
      gCode: { kind: "int", min: 1, max: 65536, help: "size of the encoder's code (our choice)" },
    },
    build(backend, rng, shape, options, cfg) {
      if (shape.length !== 3 || shape[1] % 4 || shape[2] % 4) {
        throw new UserError(
          `Cannot use --generator conv for samples of shape ${
            shape.join("x")
          }: it takes c x h x w images with h and w divisible by 4`,
        );
      }
      return convGenerator(
        backend,
        rng,
        shape as [number, number, number],
        cfg.number("gWidth"),
        cfg.number("gCode"),
        options,
      );
    },
  },
};
