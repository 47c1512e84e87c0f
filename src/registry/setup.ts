/**
 * Builds the experiment a resolved configuration describes: the data set's
 * source, the classifier and generator factories, the optimisers with their
 * schedule, and the method. Every random stream forks from --seed in a fixed
 * order (initialisation, data, generator, then what the method forks), so a
 * seed means the same run whatever is added later.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Tensor } from "../autograd/tensor.ts";
import { WeightAverage } from "../nn/average.ts";
import { BatchNorm } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";
import { Adam, linearDecay, switchAt } from "../nn/optim.ts";
import { UserError } from "../util/errors.ts";
import { flagOf } from "../util/options.ts";
import { Rng } from "../ops/random.ts";
import type { RunConfig } from "./config.ts";
import type { Method } from "../methods/method.ts";
import type { AdamSchedule, Experiment, LoadedData, Registry } from "./registry.ts";

/**
 * Adam with VAT's schedule: constant, then from --lr-decay-start linearly to 0,
 * beta1 switched; or, for "constant", lr and beta1 0.9 at every step.
 */
function scheduledAdam(
  params: Tensor[],
  lr: number,
  cfg: RunConfig,
  schedule: AdamSchedule = "run",
): Adam {
  if (schedule === "constant") return new Adam(params, { lr, beta1: 0.9 });
  const iterations = cfg.number("iterations");
  const start = Math.floor(cfg.number("lrDecayStart") * iterations);
  return new Adam(params, {
    lr: linearDecay(lr, iterations, start),
    beta1: switchAt(0.9, cfg.number("beta1Decayed"), start),
  });
}

/**
 * Refuses batches of one sample where a network normalises over the batch:
 * batch norm's variance of one value is 0, and its training step fails.
 */
function checkBatchNorm(modules: Record<string, Module>, cfg: RunConfig, unlabelled: boolean) {
  const owner = Object.entries(modules).find(([, m]) =>
    [...m.modules()].some((l) => l instanceof BatchNorm)
  )?.[0];
  if (!owner) return;
  for (const key of ["batchSize", ...(unlabelled ? ["ulBatchSize"] : [])]) {
    if (cfg.has(key) && cfg.number(key) < 2) {
      throw new UserError(
        `Cannot use ${flagOf(key)} ${
          cfg.number(key)
        }: the ${owner}'s batch norm needs at least 2 samples per batch`,
      );
    }
  }
}

/** The experiment of a configuration. */
export async function setup(backend: Backend, reg: Registry, cfg: RunConfig): Promise<Experiment> {
  const dataset = reg.datasets[cfg.string("dataset")];
  const method = reg.methods[cfg.string("method")];
  const root = new Rng(cfg.number("seed"));
  const init = root.fork();
  const data = await dataset.load({
    backend,
    cfg,
    rng: root.fork(),
    unlabelledBatch: method.unlabelled ? cfg.number("ulBatchSize") : 0,
  });
  try {
    const built = buildMethod(backend, reg, cfg, data, root, init);
    return { method: built, data: data.source, dataset };
  } catch (e) {
    data.source.close?.();
    throw e;
  }
}

/**
 * The run's method, its classifier and generator built for data of the given
 * shape: what setup does once the data is loaded, and what a benchmark does
 * with random data of the real shape. `init` is the classifier's stream and
 * `root` the run's (setup forks the generator's and the method's from it).
 */
export function buildMethod(
  backend: Backend,
  reg: Registry,
  cfg: RunConfig,
  data: Omit<LoadedData, "source">,
  root: Rng,
  init: Rng,
): Method {
  const model = reg.models[cfg.string("model")];
  const method = reg.methods[cfg.string("method")];
  const genRng = root.fork();
  const built = method.build({
    backend,
    cfg,
    rng: root,
    classifier: () => model.build(backend, init, data, cfg),
    generator: (options) =>
      reg.generators[cfg.string("generator")].build(backend, genRng, data.shape, options, cfg),
    adam: (params, lr, schedule) => scheduledAdam(params, lr, cfg, schedule),
    average: (c) => {
      const decay = cfg.number("ema");
      return decay > 0 ? new WeightAverage(c, model.build(backend, init, data, cfg), decay) : null;
    },
  });
  checkBatchNorm(built.modules, cfg, method.unlabelled);
  return built;
}
