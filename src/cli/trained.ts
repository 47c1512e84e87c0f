/**
 * A trained run opened for inference (eval, visualize, reproduce's figure):
 * its saved configuration, the experiment it describes with the weights of
 * its checkpoint, on the backend it names. The folder is held (its lock) as
 * long as it is open, since the commands write figures into it.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import { type BackendKind, openBackend } from "../backend/mod.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import type { RunConfig } from "../registry/config.ts";
import type { Experiment, Registry } from "../registry/registry.ts";
import { setup } from "../registry/setup.ts";
import { UserError } from "../util/errors.ts";
import type { OptionSpec } from "../util/options.ts";
import { RunDir, savedConfig } from "./run.ts";

/** An open trained run; close() releases it. */
export interface TrainedRun {
  run: RunDir;
  cfg: RunConfig;
  backend: Backend;
  exp: Experiment;
  /** The iteration of the checkpoint loaded. */
  iteration: number;
  close(): void;
}

/** The flag of eval and visualize that names the run. */
export const CHECKPOINT_OPTION: OptionSpec = {
  kind: "string",
  metavar: "RUN",
  help: "the run folder (its last checkpoint)",
};

/** The flag of eval and visualize that computes elsewhere than the run trained. */
export const BACKEND_OVERRIDE: OptionSpec = {
  kind: "choice",
  choices: ["cpu", "cuda", "auto"],
  help: "where to compute (default: the run's --backend)",
};

/** The flag of eval and visualize that says where the run's data live now. */
export const DATA_DIR_OVERRIDE: OptionSpec = {
  kind: "string",
  metavar: "DIR",
  help: "folder of the data set files (default: $ADVSSL_DATA_DIR, else the run's own)",
};

/**
 * Opens the run in `path` with the weights of its last checkpoint, on its
 * backend or on `backend` (a run trained on a GPU evaluated on a CPU), its
 * data read from `dataDir` where given (savedConfig).
 */
export async function openTrained(
  reg: Registry,
  path: string,
  backend?: BackendKind,
  dataDir?: string,
): Promise<TrainedRun> {
  const run = await RunDir.open(path);
  try {
    if (!run.hasCheckpoint) {
      throw new UserError(`Cannot use ${path}: it has no checkpoint yet (train it further)`);
    }
    const cfg = await savedConfig(reg, run.config, dataDir);
    const be = await openBackend(backend ?? cfg.string("backend") as BackendKind, {
      threads: cfg.has("threads") ? cfg.number("threads") : 0,
      tf32: cfg.has("tf32") ? cfg.bool("tf32") : true,
    });
    const exp = await setup(be, reg, cfg);
    try {
      const state = (await loadCheckpoint(run.checkpoint, {
        modules: exp.method.modules,
        optimizers: {},
        rngs: {},
      }, be)) as { iteration: number };
      return {
        run,
        cfg,
        backend: be,
        exp,
        iteration: state.iteration,
        close() {
          exp.data.close?.();
          run.close();
        },
      };
    } catch (e) {
      exp.data.close?.();
      throw e;
    }
  } catch (e) {
    run.close();
    throw e;
  }
}

/** Opens the run that --checkpoint (and --backend) name; `verb` says what for in the error. */
export function openFromFlags(
  reg: Registry,
  values: Record<string, unknown>,
  verb: string,
): Promise<TrainedRun> {
  const path = values.checkpoint as string | undefined;
  if (!path) throw new UserError(`Cannot ${verb}: give the run folder with --checkpoint RUN`);
  return openTrained(
    reg,
    path,
    values.backend as BackendKind | undefined,
    values.dataDir as string | undefined,
  );
}
