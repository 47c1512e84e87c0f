/**
 * The run configuration: every option with its type, range, default and help
 * (one table drives parsing, validation, --help and the JSON config file),
 * and the presets, one plain object per experiment, that flags override.
 * @module
 */
import { UserError } from "../util/errors.ts";

type Kind = "int" | "number" | "string" | "bool";

interface OptionSpec {
  kind: Kind;
  default: number | string | boolean | null;
  help: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** Every option of `train`; keys are camelCase, flags kebab-case. */
export const OPTIONS = {
  dataset: {
    kind: "string",
    default: "circles",
    choices: ["circles", "mnist", "fashion-mnist"],
    help: "data set",
  },
  dataDir: {
    kind: "string",
    default: null,
    help: "folder of data set files (default $ADVSSL_DATA_DIR, then data/)",
  },
  download: {
    kind: "bool",
    default: false,
    help: "download missing data set files (checksums verified)",
  },
  method: {
    kind: "string",
    default: "advgen",
    choices: ["supervised", "vat", "advgen"],
    help: "training method",
  },
  labels: {
    kind: "int",
    default: 8,
    min: 2,
    help: "labelled training samples (balanced across classes)",
  },
  iterations: { kind: "int", default: 3000, min: 1, help: "training iterations" },
  batchSize: { kind: "int", default: 8, min: 1, help: "labelled samples per iteration" },
  ulBatchSize: { kind: "int", default: 1500, min: 1, help: "unlabelled samples per iteration" },
  lr: { kind: "number", default: 1e-3, min: 0, help: "Adam learning rate of the classifier" },
  lrDecayStart: {
    kind: "number",
    default: 1,
    min: 0,
    max: 1,
    help: "fraction of training after which the learning rate decays linearly to 0 and beta1 drops",
  },
  beta1Decayed: {
    kind: "number",
    default: 0.5,
    min: 0,
    max: 0.999,
    help: "Adam beta1 once the decay has started (0.9 before)",
  },
  alpha: { kind: "number", default: 1, min: 0, help: "weight of the adversarial (or VAT) term" },
  lambda: {
    kind: "number",
    default: 1,
    min: 0,
    help: "weight of the generator's reconstruction loss",
  },
  eps: { kind: "number", default: 0.1, min: 0, help: "VAT perturbation radius" },
  xi: { kind: "number", default: 1e-6, min: 0, help: "VAT power-iteration step" },
  powerIterations: { kind: "int", default: 1, min: 1, help: "VAT power iterations" },
  gLr: { kind: "number", default: 1e-3, min: 0, help: "Adam learning rate of the generator" },
  gSteps: { kind: "int", default: 1, min: 1, help: "generator steps per classifier step" },
  gWarmup: {
    kind: "int",
    default: 0,
    min: 0,
    help: "iterations of generator auto-encoder warm-up before the game",
  },
  gOutput: {
    kind: "string",
    default: "free",
    choices: ["free", "residual", "bounded", "normalized"],
    help: "generator output: decoder's, x + decoder's, x + bound * tanh, or x + radius * unit step",
  },
  gBound: {
    kind: "number",
    default: 0.3,
    min: 0,
    help: "largest step per coordinate of a bounded generator",
  },
  gRadius: {
    kind: "number",
    default: 0.1,
    min: 0,
    help: "L2 norm of each sample's step of a normalized generator",
  },
  gCenter: {
    kind: "bool",
    default: false,
    help: "subtract the batch mean of the decoder's output from each step (not for free output)",
  },
  gKlWeight: {
    kind: "string",
    default: "mean",
    choices: ["mean", "relative"],
    help:
      "G's KL over samples: the mean (paper), or each sample's KL over (its own + the batch mean)",
  },
  zDim: { kind: "int", default: 4, min: 1, help: "size of the generator's noise z" },
  differentiated: {
    kind: "bool",
    default: true,
    help: "encoder learns from L_rec only, decoder from G's whole objective",
  },
  reconReduction: {
    kind: "string",
    default: "batchmean",
    choices: ["batchmean", "mean", "sum"],
    help: "reduction of ||x - G(x,z)||^2",
  },
  ema: {
    kind: "number",
    default: 0,
    min: 0,
    max: 0.99999,
    help: "decay of a moving average of C's weights used for evaluation (0: off)",
  },
  noise: { kind: "number", default: 0.06, min: 0, help: "two circles: noise sigma per coordinate" },
  inputScale: {
    kind: "number",
    default: 1,
    min: 1e-6,
    help: "two circles: factor on the coordinates (outer radius)",
  },
  seed: { kind: "int", default: 1, min: 0, max: 2 ** 32 - 1, help: "training seed" },
  dataSeed: {
    kind: "int",
    default: 1,
    min: 0,
    max: 2 ** 32 - 1,
    help: "data seed (points, labelled split)",
  },
  backend: {
    kind: "string",
    default: "auto",
    choices: ["cpu", "cuda", "auto"],
    help: "where to compute",
  },
  tf32: {
    kind: "bool",
    default: true,
    help: "allow TF32 tensor-core math in GPU GEMMs and convolutions (faster, ~1e-3 relative)",
  },
  threads: { kind: "int", default: 0, min: 0, help: "CPU threads (0: all cores)" },
  evalInterval: { kind: "int", default: 500, min: 1, help: "iterations between test evaluations" },
  checkpointInterval: {
    kind: "int",
    default: 1000,
    min: 1,
    help: "iterations between checkpoints",
  },
  logInterval: { kind: "int", default: 100, min: 1, help: "iterations between metric lines" },
  out: { kind: "string", default: null, help: "run folder (default runs/<run-name>)" },
  figure: { kind: "bool", default: true, help: "write figures into the run folder" },
} as const satisfies Record<string, OptionSpec>;

/** A resolved configuration: a value for every option. */
export type Config = {
  -readonly [K in keyof typeof OPTIONS]: (typeof OPTIONS)[K]["kind"] extends "bool" ? boolean
    : (typeof OPTIONS)[K]["kind"] extends "string"
      ? ((typeof OPTIONS)[K] extends { choices: readonly (infer C)[] } ? C : string | null)
    : number;
};

/** The flag of an option key: labelsPerClass -> --labels-per-class. */
export const flagOf = (key: string): string =>
  `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const keyOf = (flag: string): string =>
  flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Checks and converts one value; `where` names the flag or file for the message. */
function convert(key: string, raw: unknown, where: string): number | string | boolean | null {
  const spec = (OPTIONS as Record<string, OptionSpec>)[key];
  if (!spec) {
    throw new UserError(
      `Cannot use ${where}: unknown option (run with --help to list the options)`,
    );
  }
  if (spec.kind === "bool") {
    if (typeof raw === "boolean") return raw;
    if (raw === "true" || raw === "false") return raw === "true";
    throw new UserError(`Cannot use ${where}: expected true or false, got '${raw}'`);
  }
  if (spec.kind === "string") {
    if (raw === null && spec.default === null) return null;
    const v = String(raw);
    if (spec.choices && !spec.choices.includes(v)) {
      throw new UserError(
        `Cannot use ${where}: expected one of ${spec.choices.join(", ")}, got '${v}'`,
      );
    }
    return v;
  }
  const n = typeof raw === "number"
    ? raw
    : typeof raw === "string" && raw.trim() !== ""
    ? Number(raw)
    : NaN;
  if (!Number.isFinite(n) || (spec.kind === "int" && !Number.isInteger(n))) {
    throw new UserError(
      `Cannot use ${where}: expected ${
        spec.kind === "int" ? "an integer" : "a number"
      }, got '${raw}'`,
    );
  }
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    const range = spec.max === undefined ? `>= ${spec.min}` : `in [${spec.min}, ${spec.max}]`;
    throw new UserError(`Cannot use ${where}: ${n} is out of range (expected ${range})`);
  }
  return n;
}

/** The defaults of every option. */
export function defaults(): Config {
  return Object.fromEntries(Object.entries(OPTIONS).map(([k, s]) => [k, s.default])) as Config;
}

/** Checks a partial configuration (from a preset or a JSON file) and returns its converted values. */
export function checkPartial(values: Record<string, unknown>, source: string): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) out[k] = convert(k, v, `'${k}' in ${source}`);
  return out as Partial<Config>;
}

/** What the command line said: option values, plus the flags that are not options. */
export interface ParsedArgs {
  values: Record<string, unknown>;
  config: string | null;
  resume: string | null;
  preset: string | null;
  /** Stop after this many iterations, as an interruption would (the run can be resumed). */
  stopAfter: number | null;
  help: boolean;
}

/** Parses `--flag value`, `--flag=value` and `--bool` / `--no-bool`; each value is checked. */
export function parseArgs(args: string[]): ParsedArgs {
  const out: ParsedArgs = {
    values: {},
    config: null,
    resume: null,
    preset: null,
    stopAfter: null,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") {
      out.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new UserError(`Cannot use '${arg}': expected a --flag (run with --help)`);
    }
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const name = flag.slice(2);
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) {
        throw new UserError(`Cannot use ${flag}: it needs a value`);
      }
      return v;
    };
    if (name === "config" || name === "resume" || name === "preset") {
      out[name] = takeValue();
      continue;
    }
    if (name === "stop-after") {
      const v = Number(takeValue());
      if (!Number.isInteger(v) || v < 1) {
        throw new UserError(`Cannot use ${flag}: expected an integer >= 1`);
      }
      out.stopAfter = v;
      continue;
    }
    const negated = name.startsWith("no-") &&
      (OPTIONS as Record<string, OptionSpec>)[keyOf(name.slice(3))]?.kind === "bool";
    const key = keyOf(negated ? name.slice(3) : name);
    const spec = (OPTIONS as Record<string, OptionSpec>)[key];
    if (!spec) {
      throw new UserError(`Cannot use ${flag}: unknown flag (run with --help to list the flags)`);
    }
    if (spec.kind === "bool" && inline === undefined) {
      out.values[key] = !negated;
      continue;
    }
    out.values[key] = convert(key, takeValue(), flag);
  }
  return out;
}

/** The --help text, generated from the option table. */
export function helpText(presetNames: string[]): string {
  const rows = Object.entries(OPTIONS).map(([k, s]) => {
    const spec = s as OptionSpec;
    const value = spec.kind === "bool"
      ? ""
      : spec.choices
      ? ` ${spec.choices.join("|")}`
      : spec.kind === "string"
      ? " DIR"
      : " N";
    return [`  ${flagOf(k)}${value}`, `${spec.help} (default ${spec.default})`];
  });
  rows.push(
    [
      "  --preset NAME",
      `start from a preset: ${presetNames.join(", ")} (default: by --dataset and --method)`,
    ],
    [
      "  --config FILE",
      "a JSON file of the same keys (camelCase or kebab-case); flags override it",
    ],
    ["  --resume DIR", "continue the run in DIR from its last checkpoint (with no other flags)"],
    ["  --stop-after N", "stop after N iterations, as an interruption would; --resume continues"],
    ["  --help", "this text"],
  );
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return [
    "usage: deno task train [flags]",
    "",
    "Trains a classifier; with no flags, the paper's method on two circles (noise 0.06).",
    "Boolean flags take --flag or --no-flag.",
    "",
    ...rows.map(([a, b]) => a.padEnd(width) + b),
  ].join("\n");
}

/** Normalises a JSON config's keys (kebab-case allowed) to option keys. */
export function configFileValues(json: unknown, file: string): Record<string, unknown> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UserError(`Cannot read ${file}: expected a JSON object of options`);
  }
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [keyOf(k), v]));
}
