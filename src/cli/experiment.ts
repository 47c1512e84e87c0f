/**
 * Builds a method and its data source from a resolved configuration: the
 * networks for the data set, the optimisers with their schedules, the
 * random streams (all forked from --seed, the data from --data-seed).
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Config } from "./config.ts";
import { noGrad } from "../autograd/tape.ts";
import { scope } from "../autograd/tensor.ts";
import { CirclesSource, circlesSplit } from "../data/circles.ts";
import { boundaryPanel } from "../report/boundary.ts";
import type { Canvas } from "../report/canvas.ts";
import type { DataSource } from "../data/source.ts";
import { ImageSource } from "../data/images.ts";
import { augmentFor, loadDataset, openStream, splitTrain } from "../data/mod.ts";
import { convGenerator, mlpGenerator } from "../models/generator.ts";
import { mlp, vatMnistMlp } from "../models/mlp.ts";
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

/** The data source of a configuration: the built-in circles, or an image set streamed by a worker. */
async function dataFor(backend: Backend, cfg: Config, rng: Rng): Promise<DataSource> {
  if (cfg.dataset === "circles") {
    if (cfg.labels % 2 !== 0) {
      throw new UserError(`Cannot use --labels ${cfg.labels}: two circles need an even number`);
    }
    const split = circlesSplit(backend, cfg.noise, cfg.dataSeed, cfg.inputScale, cfg.labels);
    return new CirclesSource(split, cfg.ulBatchSize, rng);
  }
  const dataset = await loadDataset(cfg.dataset, {
    dataDir: cfg.dataDir ?? undefined,
    download: cfg.download,
    backend,
  });
  if (cfg.labels % dataset.classes !== 0 || cfg.labels > dataset.train.labels.length) {
    throw new UserError(
      `Cannot use --labels ${cfg.labels}: expected a multiple of the ${dataset.classes} classes, at most the training set`,
    );
  }
  const split = splitTrain(dataset.train.labels, {
    labels: cfg.labels,
    dataSeed: cfg.dataSeed,
    validation: 0,
  });
  const stream = openStream(dataset.train, split, {
    labelledBatch: cfg.batchSize,
    unlabelledBatch: cfg.ulBatchSize,
    seed: cfg.seed,
    augment: augmentFor(cfg.dataset),
  });
  return new ImageSource(backend, dataset, stream);
}

/** The classifier and generator factories of a data set. */
function networks(backend: Backend, cfg: Config, init: Rng, genRng: Rng) {
  const genOptions = {
    zDim: cfg.zDim,
    output: cfg.gOutput,
    bound: cfg.gBound,
    radius: cfg.gRadius,
    center: cfg.gCenter,
  };
  if (cfg.dataset === "circles") {
    return {
      makeClassifier: () => mlp(backend, init, [2, 100, 50, 2], false),
      makeGenerator: () => mlpGenerator(backend, genRng, 2, [64, 64], 8, genOptions),
    };
  }
  return {
    makeClassifier: () => vatMnistMlp(backend, init),
    makeGenerator: () => convGenerator(backend, genRng, [1, 28, 28], 32, 64, genOptions),
  };
}

/** Builds the experiment a configuration describes. */
export async function setup(backend: Backend, cfg: Config): Promise<Experiment> {
  const root = new Rng(cfg.seed);
  const init = root.fork();
  const data = await dataFor(backend, cfg, root.fork());
  const { makeClassifier, makeGenerator } = networks(backend, cfg, init, root.fork());
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
      const generator = makeGenerator();
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
        gKlWeight: cfg.gKlWeight,
      }, averaged);
      return { method, data };
    }
  }
}

/**
 * The two-circles picture of an experiment: the decision boundary of the
 * evaluated classifier, the labelled and unlabelled points, and G(x, z) for
 * a sample of 80 unlabelled points where the method has a generator.
 */
export function circlesPanel(
  backend: Backend,
  exp: Experiment,
  cfg: Config,
  size: number,
  title: string,
): Canvas {
  const { labelled, unlabelled } = (exp.data as CirclesSource).split;
  const sample = 160; // 80 points: enough to see the perturbations, few enough to read them
  const generated = exp.method.adversarial
    ? scope(() =>
      noGrad(() => ({
        from: unlabelled.x.toArray().slice(0, sample),
        to: exp.method.adversarial!(unlabelled.x).toArray().slice(0, sample),
      }))
    )
    : undefined;
  return boundaryPanel(
    backend,
    exp.method.evaluated(),
    {
      labelled: { x: labelled.x.toArray(), y: labelled.y.toArray() },
      unlabelled: unlabelled.x.toArray(),
      generated,
    },
    1.35 * cfg.inputScale,
    size,
    title,
  );
}
