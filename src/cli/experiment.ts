/**
 * Builds a method and its data source from a resolved configuration: the
 * networks for the data set, the optimisers with their schedules, the
 * random streams (all forked from --seed, the data from --data-seed).
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Config } from "./config.ts";
import { CirclesSource, circlesSplit } from "../data/circles.ts";
import type { DataSource } from "../data/source.ts";
import { mlpGenerator } from "../models/generator.ts";
import { mlp } from "../models/mlp.ts";
import type { Tensor } from "../autograd/tensor.ts";
import { Adam, linearDecay, switchAt } from "../nn/optim.ts";
import { Rng } from "../ops/random.ts";
import { UserError } from "../util/errors.ts";
import { AdvGen } from "../methods/advgen.ts";
import type { Method } from "../methods/method.ts";
import { Supervised } from "../methods/supervised.ts";
import { Vat } from "../methods/vat.ts";

/** A method ready to train, with its data. */
export interface Experiment {
  method: Method;
  data: DataSource;
}

/** Adam with VAT's schedule: constant, then from `lrDecayStart` the rate falls linearly to 0 and beta1 drops. */
function adam(params: Tensor[], lr: number, cfg: Config): Adam {
  const start = Math.floor(cfg.lrDecayStart * cfg.iterations);
  return new Adam(params, {
    lr: linearDecay(lr, cfg.iterations, start),
    beta1: switchAt(0.9, cfg.beta1Decayed, start),
  });
}

/** Builds the experiment a configuration describes. */
export function setup(backend: Backend, cfg: Config): Experiment {
  if (cfg.dataset !== "circles") {
    throw new UserError(
      `Cannot train on --dataset ${cfg.dataset} yet: only circles is built in so far`,
    );
  }
  const root = new Rng(cfg.seed);
  const init = root.fork();
  const split = circlesSplit(backend, cfg.noise, cfg.dataSeed, cfg.inputScale);
  const data = new CirclesSource(split, cfg.ulBatchSize, root.fork());
  const makeClassifier = () => mlp(backend, init, [2, 100, 50, 2], false);
  const classifier = makeClassifier();
  const optC = adam(classifier.parameters(), cfg.lr, cfg);
  switch (cfg.method) {
    case "supervised":
      return { method: new Supervised(classifier, optC), data };
    case "vat":
      return {
        method: new Vat(classifier, optC, root.fork(), {
          eps: cfg.eps,
          xi: cfg.xi,
          iterations: cfg.powerIterations,
          beta: cfg.alpha,
        }),
        data,
      };
    case "advgen": {
      const generator = mlpGenerator(backend, root.fork(), 2, [64, 64], 8, {
        zDim: cfg.zDim,
        output: cfg.gOutput,
        bound: cfg.gBound,
      });
      const optG = adam(generator.parameters(), cfg.gLr, cfg);
      const averaged = cfg.ema > 0 ? makeClassifier() : null;
      const method = new AdvGen(classifier, generator, optC, optG, {
        alpha: cfg.alpha,
        lambda: cfg.lambda,
        gSteps: cfg.gSteps,
        differentiated: cfg.differentiated,
        gWarmup: cfg.gWarmup,
        reconReduction: cfg.reconReduction,
        ema: cfg.ema,
      }, averaged);
      return { method, data };
    }
  }
}
