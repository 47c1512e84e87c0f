/**
 * `deno task train`: resolves the run (its preset, then --config, then the
 * flags, through the registry), builds the experiment, trains with progress
 * output, and writes the run folder. User mistakes print one line and exit
 * with code 2.
 * @module
 */
import type { Backend, ComputePrecision } from "../backend/backend.ts";
import { openBackend } from "../backend/mod.ts";
import { cpuVendor } from "../backend/cpu.ts";
import { type IntervalSums, trainLoop } from "../methods/loop.ts";
import type { Method } from "../methods/method.ts";
import { loadCheckpoint, saveCheckpoint } from "../nn/checkpoint.ts";
import type { RunConfig } from "../registry/config.ts";
import { BUILTIN, type Registry } from "../registry/mod.ts";
import type { Experiment } from "../registry/registry.ts";
import { fileValues, resolveRun, runTable } from "../registry/resolve.ts";
import { setup } from "../registry/setup.ts";
import { errorCurve } from "../report/figures.ts";
import { writeReport } from "./report.ts";
import { writePng } from "../report/png.ts";
import { DivergedError, SIGNAL_EXIT_CODES, StoppedError, UserError } from "../util/errors.ts";
import type { OptionSpec, Value } from "../util/options.ts";
import { parseFlags, runMain } from "./args.ts";
import { Progress, slowWork } from "./progress.ts";
import { runHelp } from "./run_help.ts";
import { configRecord, readJson, RunDir, savedConfig, writeJsonAtomic } from "./run.ts";

/** The flags of `train` that are not options of the run. */
const META: Record<string, OptionSpec> = {
  preset: {
    kind: "string",
    metavar: "NAME",
    help: "start from this preset (default: <dataset>-<method>; list below)",
  },
  config: {
    kind: "string",
    metavar: "FILE",
    help: "a JSON object of options (camelCase or kebab-case keys); flags override it",
  },
  resume: {
    kind: "string",
    metavar: "DIR",
    help:
      "continue the run in DIR from its last checkpoint (with no run options but --data-dir, where its data live now)",
  },
  stopAfter: {
    kind: "int",
    min: 1,
    max: 1e9,
    help: "stop after N iterations, as an interruption would; --resume continues",
  },
  overwrite: {
    kind: "bool",
    help: "start over in an --out that holds a run of the tool's (its run files are removed)",
  },
};

/** The JSON state a checkpoint of `train` holds beside the tensors. */
interface CheckpointState {
  iteration: number;
  /** Training time so far, over all processes of the run. */
  seconds: number;
  /** The metrics line in progress. */
  interval: IntervalSums;
}

/** The run a command line describes. */
interface TrainRequest {
  /** The run's configuration; for --resume, read once the folder is held. */
  cfg: RunConfig | null;
  /** For --resume: where the run's data live now (--data-dir), if the flag was given. */
  dataDir?: string;
  /** The folder of a run to continue. */
  resume: string | null;
  stopAfter: number | null;
  overwrite: boolean;
  help: boolean;
}

/**
 * Which kernels run bf16, and where they are slower than fp32: on an Intel
 * Xeon without AMX (AVX-512-BF16 alone), oneDNN's bf16 convolutions and GEMMs
 * measured 1.4 to 2.8 times slower than its fp32 ones, PyTorch's too; on AMD
 * Zen 4, also AVX-512-BF16 without AMX, they measured faster
 * (docs/benchmarks.md).
 */
function bf16Kernels(be: Backend): string {
  if (be.name === "cuda") return "cuDNN and cuBLAS";
  const isa = be.cpuIsa();
  return `oneDNN ISA ${isa ?? "none"}${
    isa !== null && !isa.includes("amx") && cpuVendor() === "GenuineIntel"
      ? "; on Intel without AMX, bf16 measured slower than fp32: docs/benchmarks.md"
      : ""
  }`;
}

/** Each optimiser's learning rate at its last update, as lr_<name> (metrics lines). */
function learningRates(method: Method): Record<string, number> {
  return Object.fromEntries(
    Object.entries(method.optimizers).map(([name, opt]) => [
      `lr_${name}`,
      opt.lr(Math.max(0, opt.step - 1)),
    ]),
  );
}

/** Resolves a `train` command line against a registry. */
async function resolveTrain(args: string[], reg: Registry): Promise<TrainRequest> {
  const table = runTable(reg);
  const specs = Object.fromEntries([...table].map(([k, o]) => [k, o.spec]));
  const parsed = parseFlags(args, { ...specs, ...META });
  const flags: Record<string, Value> = {};
  for (const [k, v] of Object.entries(parsed.values)) if (!(k in META)) flags[k] = v;
  const meta = parsed.values as Record<string, Value | undefined>;
  const stopAfter = (meta.stopAfter as number | undefined) ?? null;
  const overwrite = meta.overwrite === true;
  if (meta.resume !== undefined) {
    // Where the data live is not part of the configuration (savedConfig).
    const { dataDir, ...options } = flags;
    if (Object.keys(options).length || meta.config || meta.preset || overwrite) {
      throw new UserError(
        "Cannot combine --resume with run options: a resumed run keeps its saved configuration",
      );
    }
    return {
      cfg: null,
      resume: meta.resume as string,
      ...(typeof dataDir === "string" ? { dataDir } : {}),
      stopAfter,
      overwrite,
      help: parsed.help,
    };
  }
  const config = meta.config as string | undefined;
  const file = config ? fileValues(reg, await readJson(config), config) : undefined;
  const cfg = resolveRun(reg, { preset: meta.preset as string | undefined, file, flags });
  return { cfg, resume: null, stopAfter, overwrite, help: parsed.help };
}

/** The configuration a `train` command line (not a --resume) describes, without training. */
export async function trainConfig(args: string[], reg: Registry = BUILTIN): Promise<RunConfig> {
  const request = await resolveTrain(args, reg);
  if (!request.cfg) throw new Error("Cannot resolve a --resume command line without its folder");
  return request.cfg;
}

/**
 * Trains as the command line says, with the data sets and methods of `reg`;
 * returns the final test error (NaN when stopped early, null for --help).
 */
export async function train(args: string[], reg: Registry = BUILTIN): Promise<number | null> {
  const request = await resolveTrain(args, reg);
  if (request.help) {
    const cfg = request.cfg ??
      await savedConfig(reg, `${request.resume}/config.json`, request.dataDir);
    console.log(runHelp(reg, cfg, META));
    return null;
  }
  // The folder is checked before anything slow, and held from before the first write.
  const resume = request.resume !== null;
  const out = request.resume ?? request.cfg!.path("out") ??
    RunDir.defaultPath(request.cfg!.string("dataset"), request.cfg!.string("method"));
  if (!resume) RunDir.check(out, request.overwrite);
  let run = resume ? await RunDir.open(out) : null;
  try {
    const cfg = request.cfg ?? await savedConfig(reg, run!.config, request.dataDir);
    const be = await openBackend(cfg.string("backend") as "cpu" | "cuda" | "auto", {
      threads: cfg.has("threads") ? cfg.number("threads") : 0,
      tf32: cfg.has("tf32") ? cfg.bool("tf32") : true,
      precision: cfg.string("precision") as ComputePrecision,
    });
    const exp = await setup(be, reg, cfg);
    try {
      run ??= await RunDir.create(out, request.overwrite);
      return await trainExperiment(exp, cfg, run, resume, request.stopAfter, be);
    } finally {
      exp.data.close?.();
    }
  } finally {
    run?.close();
  }
}

/** The signals that stop a run gracefully: a scheduler's preemption warning, kill, Ctrl-C. */
const STOP_SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGUSR1"];

/**
 * Listens for STOP_SIGNALS: the first asks the loop to stop after its step
 * (it writes a checkpoint), the second exits at once with the signal's code
 * after `atOnce` (the last checkpoint on disk stays: writes are atomic).
 */
function stopOnSignals(atOnce: () => void): {
  requested: () => Deno.Signal | null;
  remove: () => void;
} {
  let requested: Deno.Signal | null = null;
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => {
      if (requested !== null) {
        atOnce();
        Deno.exit(SIGNAL_EXIT_CODES[signal] ?? 1);
      }
      requested = signal;
      console.error(
        `${signal}: stopping after this step and writing a checkpoint (${signal} again stops at once)`,
      );
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return {
    requested: () => requested,
    remove: () => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)),
  };
}

async function trainExperiment(
  exp: Experiment,
  cfg: RunConfig,
  run: RunDir,
  resume: boolean,
  stopAfter: number | null,
  be: Backend,
): Promise<number> {
  const state = {
    modules: exp.method.modules,
    optimizers: exp.method.optimizers,
    rngs: { ...exp.method.rngs, ...exp.data.rngs },
  };
  const iterations = cfg.number("iterations");
  const [dataset, method] = [cfg.string("dataset"), cfg.string("method")];
  let start = 0;
  let elapsed = 0;
  let interval: IntervalSums | undefined;
  if (resume && run.hasCheckpoint) {
    const saved = (await loadCheckpoint(run.checkpoint, state, be)) as CheckpointState;
    start = saved.iteration;
    await exp.data.skip?.(start);
    elapsed = saved.seconds;
    interval = saved.interval;
    await run.truncateMetrics(start);
    console.log(`resuming ${run.path} at iteration ${start}/${iterations}`);
  } else if (resume) {
    await run.truncateMetrics(0);
    console.log(
      `resuming ${run.path} from the start: it stopped before its first checkpoint (${iterations} iterations)`,
    );
  } else {
    await writeJsonAtomic(run.config, configRecord(cfg, run.path));
    console.log(
      `run ${run.path}: ${method} on ${dataset} (preset ${cfg.preset}), ${iterations} iterations, backend ${be.name}${
        be.computePrecision === "bf16"
          ? `, convolutions and GEMMs in bf16 (${bf16Kernels(be)})`
          : ""
      }`,
    );
  }
  const progress = new Progress(iterations);
  const t0 = performance.now();
  const seconds = () => elapsed + (performance.now() - t0) / 1000;
  let saved = resume ? start : 0;
  const kept = () =>
    saved > 0
      ? `the last good checkpoint (iteration ${saved}) is kept in ${run.checkpoint}`
      : "no checkpoint was written";
  const checkpoint = async (iteration: number, interval: IntervalSums) => {
    const s: CheckpointState = { iteration, seconds: seconds(), interval };
    try {
      await saveCheckpoint(run.checkpoint, state, s);
    } catch (e) {
      if (!(e instanceof DivergedError)) throw e;
      throw new DivergedError(`Cannot continue training: at iteration ${iteration} ${e.message}`);
    }
    saved = iteration;
  };
  const stop = stopOnSignals(() => {
    progress.finish();
    console.error(`stopping at once; ${kept()}`);
  });
  const error = await trainLoop(
    exp.method,
    exp.data,
    {
      iterations,
      logInterval: cfg.number("logInterval"),
      evalInterval: cfg.number("evalInterval"),
      checkpointInterval: cfg.number("checkpointInterval"),
      stopAfter: stopAfter ?? undefined,
      stopRequested: stop.requested,
    },
    start,
    {
      log: (iteration, metrics, rate) => {
        progress.update(iteration, metrics, rate);
        run.appendMetrics({ iteration, ...metrics, ...learningRates(exp.method), rate });
      },
      eval: async (iteration, testError, diagnostics) => {
        progress.testError(iteration, testError);
        run.appendMetrics({ iteration, test_error: testError, ...diagnostics });
        const curve = errorCurve(run.testErrors(), `${dataset} ${method} test error`);
        await writePng(run.file("test_error.png"), curve.rgb, curve.width, curve.height);
      },
      checkpoint,
      evalProgress: () => slowWork((line) => progress.line(line)),
    },
    interval,
  ).catch(async (e) => {
    progress.finish();
    if (e instanceof StoppedError) {
      await writeReport([run.path]);
      throw new StoppedError(
        `${e.message}: the checkpoint is in ${run.checkpoint}; continue with: deno task train --resume ${run.path}`,
        e.signal,
        e.iteration,
      );
    }
    if (e instanceof DivergedError) {
      // The page shows the curves up to the divergence: where a user looks first.
      await writeReport([run.path]).catch(() => {});
      throw new DivergedError(
        `${e.message}; ${kept()}; the report is in ${run.file("report.html")}`,
      );
    }
    throw e;
  }).finally(() => stop.remove());
  progress.finish();
  if (Number.isNaN(error)) {
    await writeReport([run.path]);
    console.log(
      `stopped at iteration ${stopAfter}/${iterations}; continue with: deno task train --resume ${run.path}`,
    );
    return error;
  }
  const summary = {
    test_error: error,
    iterations,
    seconds: seconds(),
    method,
    dataset,
    preset: cfg.preset,
    backend: be.name,
    precision: be.computePrecision,
    machine: be.machine(),
  };
  await writeJsonAtomic(run.summary, summary);
  const noise = cfg.has("noise") ? ` (noise ${cfg.number("noise")})` : "";
  if (exp.dataset.figure && cfg.bool("figure")) {
    const panel = exp.dataset.figure(be, exp, cfg, 360, `${method}${noise}`);
    await writePng(run.file("boundary.png"), panel.rgb, panel.width, panel.height);
  }
  await writeReport([run.path]);
  console.log(
    `${dataset}${noise} ${method}: test error ${
      error.toFixed(2)
    }% after ${iterations} iterations (${seconds().toFixed(1)} s); run folder ${run.path}, report ${
      run.file("report.html")
    }`,
  );
  return error;
}

if (import.meta.main) await runMain(async (args) => void await train(args));
