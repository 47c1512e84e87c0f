/**
 * `deno task train`: resolves the configuration (defaults, preset, --config,
 * flags), builds the experiment, trains with progress output, and writes the
 * run folder. User mistakes print one line and exit with code 2.
 * @module
 */
import { BuildError } from "../../build.ts";
import type { Backend } from "../backend/backend.ts";
import { openBackend } from "../backend/mod.ts";
import { trainLoop } from "../methods/loop.ts";
import { loadCheckpoint, saveCheckpoint } from "../nn/checkpoint.ts";
import { writePng } from "../report/png.ts";
import { UserError } from "../util/errors.ts";
import {
  checkPartial,
  type Config,
  configFileValues,
  defaults,
  helpText,
  parseArgs,
} from "./config.ts";
import { circlesPanel, type Experiment, setup } from "./experiment.ts";
import { presetFor, PRESETS } from "./presets.ts";
import { Progress } from "./progress.ts";
import { readJson, RunDir, writeJsonAtomic } from "./run.ts";

/** The configuration a command line asks for, and where it came from. */
export async function resolveConfig(
  args: string[],
): Promise<
  {
    cfg: Config;
    preset: string | null;
    resume: RunDir | null;
    stopAfter: number | null;
    help: boolean;
  }
> {
  const parsed = parseArgs(args);
  if (parsed.help) {
    return { cfg: defaults(), preset: null, resume: null, stopAfter: null, help: true };
  }
  if (parsed.resume) {
    if (Object.keys(parsed.values).length || parsed.config || parsed.preset) {
      throw new UserError(
        "Cannot combine --resume with other options: a resumed run keeps its saved configuration",
      );
    }
    const run = RunDir.open(parsed.resume);
    const saved = checkPartial(
      configFileValues(await readJson(run.config), run.config),
      run.config,
    );
    return {
      cfg: { ...defaults(), ...saved },
      preset: null,
      resume: run,
      stopAfter: parsed.stopAfter,
      help: false,
    };
  }
  const fromFile = parsed.config
    ? checkPartial(configFileValues(await readJson(parsed.config), parsed.config), parsed.config)
    : {};
  const pick = <K extends keyof Config>(k: K): Config[K] =>
    (parsed.values[k] as Config[K]) ?? fromFile[k] ?? defaults()[k];
  const found = presetFor(parsed.preset, pick("dataset"), pick("method"));
  if (parsed.preset && !found) {
    throw new UserError(
      `Cannot use --preset ${parsed.preset}: no such preset (presets: ${
        Object.keys(PRESETS).join(", ")
      })`,
    );
  }
  const cfg = {
    ...defaults(),
    ...(found?.[1].values ?? {}),
    ...fromFile,
    ...(parsed.values as Partial<Config>),
  };
  return {
    cfg,
    preset: found?.[0] ?? null,
    resume: null,
    stopAfter: parsed.stopAfter,
    help: false,
  };
}

/** Trains as the command line says; returns the final test error. */
export async function train(args: string[]): Promise<number | null> {
  const { cfg, preset, resume, stopAfter, help } = await resolveConfig(args);
  if (help) {
    console.log(helpText(Object.keys(PRESETS)));
    return null;
  }
  const be = await openBackend(cfg.backend, { threads: cfg.threads, tf32: cfg.tf32 });
  const run = resume ?? RunDir.create(cfg.out ?? RunDir.defaultPath(cfg.dataset, cfg.method));
  const exp = await setup(be, cfg);
  try {
    return await trainExperiment(exp, cfg, run, resume !== null, stopAfter, preset, be);
  } finally {
    exp.data.close?.();
  }
}

async function trainExperiment(
  exp: Experiment,
  cfg: Config,
  run: RunDir,
  resume: boolean,
  stopAfter: number | null,
  preset: string | null,
  be: Backend,
): Promise<number> {
  const state = {
    modules: exp.method.modules,
    optimizers: exp.method.optimizers,
    rngs: { ...exp.method.rngs, ...exp.data.rngs },
  };
  let start = 0;
  let elapsed = 0;
  if (resume) {
    const saved = (await loadCheckpoint(run.checkpoint, state, be)) as {
      iteration: number;
      seconds: number;
    };
    start = saved.iteration;
    await exp.data.skip?.(start);
    elapsed = saved.seconds;
    await run.truncateMetrics(start);
    console.log(`resuming ${run.path} at iteration ${start}/${cfg.iterations}`);
  } else {
    await writeJsonAtomic(run.config, { ...cfg, out: run.path });
    console.log(
      `run ${run.path}: ${cfg.method} on ${cfg.dataset}${
        preset ? ` (preset ${preset})` : ""
      }, ${cfg.iterations} iterations, backend ${be.name}`,
    );
  }
  const progress = new Progress(cfg.iterations);
  const t0 = performance.now();
  const seconds = () => elapsed + (performance.now() - t0) / 1000;
  const error = await trainLoop(
    exp.method,
    exp.data,
    { ...cfg, stopAfter: stopAfter ?? undefined },
    start,
    {
      log: (iteration, metrics, rate) => {
        progress.update(iteration, metrics, rate);
        run.appendMetrics({ iteration, ...metrics, rate });
      },
      eval: (iteration, testError) => {
        progress.testError(iteration, testError);
        run.appendMetrics({ iteration, test_error: testError });
      },
      checkpoint: (iteration) =>
        saveCheckpoint(run.checkpoint, state, { iteration, seconds: seconds() }),
    },
  );
  progress.finish();
  if (Number.isNaN(error)) {
    console.log(
      `stopped at iteration ${stopAfter}/${cfg.iterations}; continue with: deno task train --resume ${run.path}`,
    );
    return error;
  }
  const summary = {
    test_error: error,
    iterations: cfg.iterations,
    seconds: seconds(),
    method: cfg.method,
    dataset: cfg.dataset,
    preset,
  };
  await writeJsonAtomic(run.summary, summary);
  if (cfg.figure && cfg.dataset === "circles") {
    const panel = circlesPanel(be, exp, cfg, 360, `${cfg.method} noise ${cfg.noise}`);
    await writePng(run.file("boundary.png"), panel.rgb, panel.width, panel.height);
  }
  console.log(
    `${cfg.dataset} ${
      cfg.dataset === "circles" ? `(noise ${cfg.noise}) ` : ""
    }${cfg.method}: test error ${error.toFixed(2)}% after ${cfg.iterations} iterations (${
      seconds().toFixed(1)
    } s); run folder ${run.path}`,
  );
  return error;
}

if (import.meta.main) {
  try {
    await train(Deno.args);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`error: ${e.message}`);
      Deno.exit(2);
    }
    if (e instanceof BuildError) {
      console.error(`error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
