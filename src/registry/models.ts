/**
 * The classifier networks and generators a run can choose (--model,
 * --generator), sized from the data set's sample shape and classes.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { convGenerator, mlpGenerator } from "../models/generator.ts";
import { mlp } from "../models/mlp.ts";
import type { GeneratorEntry, ModelEntry } from "./registry.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

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
    help: "conv encoder-decoder for c x h x w images (h, w divisible by 4): width 32, code of 64",
    build(backend, rng, shape, options) {
      if (shape.length !== 3 || shape[1] % 4 || shape[2] % 4) {
        throw new UserError(
          `Cannot use --generator conv for samples of shape ${
            shape.join("x")
          }: it takes c x h x w images with h and w divisible by 4`,
        );
      }
      return convGenerator(backend, rng, shape as [number, number, number], 32, 64, options);
    },
  },
};
