/**
 * What the registry holds: data sets, classifier models, generators and
 * methods, each an entry that declares its own options (types, ranges,
 * help), its presets where it has some, and how it is built. The training
 * command, `reproduce`, `--help` and `--config` all read one Registry, so
 * adding a data set or a method is one new entry (see mod.ts for the
 * built-in one, and test/registry_test.ts for a toy data set added in a
 * test).
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { DataSource } from "../data/source.ts";
import type { Method } from "../methods/method.ts";
import type { Generator, GeneratorOptions } from "../models/generator.ts";
import type { WeightAverage } from "../nn/average.ts";
import type { Module } from "../nn/module.ts";
import type { Adam } from "../nn/optim.ts";
import type { Rng } from "../ops/random.ts";
import type { Canvas } from "../report/canvas.ts";
import type { Value } from "../util/options.ts";
import type { RunConfig } from "./config.ts";
import type { Alternative, ChoiceNode, OptionNode } from "./tree.ts";

/** A named starting point: a value for every option of its run. */
export interface Preset {
  description: string;
  values: Record<string, Value>;
}

/** One table of `deno task reproduce NAME`: rows x columns x seeds of training runs. */
export interface Table {
  title: string;
  /** Each column's data set, and the flags every run of it adds (e.g. a noise level). */
  columns: { label: string; dataset: string; args: string[] }[];
  rows: TableRow[];
  seeds: number;
}

/** A row of a table: its flags, and the paper's number per column. */
export interface TableRow {
  label: string;
  /** Flags of every cell of the row (a preset and changes). */
  args: string[];
  /** Flags per column, after `args`; null: the cell is not run (the paper has no number). */
  cells?: (string[] | null)[];
  paper: string[];
}

/** What a data set's loader is given. */
export interface LoadContext {
  backend: Backend;
  cfg: RunConfig;
  /** The stream of the data order (forked from --seed). */
  rng: Rng;
  /** Unlabelled samples per step; 0 when the method uses none. */
  unlabelledBatch: number;
}

/** A loaded data set: the loop's source, one sample's shape and the number of classes. */
export interface LoadedData {
  source: DataSource;
  shape: number[];
  classes: number;
}

/** A method ready to train on its data. */
export interface Experiment {
  method: Method;
  data: DataSource;
  dataset: DatasetEntry;
}

/** A data set. */
export interface DatasetEntry extends Alternative {
  /** The method of a run that names only this data set. */
  defaultMethod: string;
  /** Presets by name (each sets `dataset` to this entry). */
  presets: Record<string, Preset>;
  load(ctx: LoadContext): Promise<LoadedData>;
  /** A picture of a trained experiment (two circles: the decision boundary). */
  figure?(backend: Backend, exp: Experiment, cfg: RunConfig, size: number, title: string): Canvas;
}

/** A classifier network. */
export interface ModelEntry extends Alternative {
  build(backend: Backend, rng: Rng, data: Omit<LoadedData, "source">, cfg: RunConfig): Module;
}

/** A generator network G(x, z). */
export interface GeneratorEntry extends Alternative {
  build(
    backend: Backend,
    rng: Rng,
    shape: number[],
    options: GeneratorOptions,
    cfg: RunConfig,
  ): Generator;
}

/** Which schedule an optimizer follows: the run's (decaying), or none. */
export type AdamSchedule = "run" | "constant";

/** What a method's builder is given: factories that draw from the run's random streams in order. */
export interface MethodContext {
  backend: Backend;
  cfg: RunConfig;
  /** The run's root stream; a method forks what it needs. */
  rng: Rng;
  /** A new classifier of the run's model (initialised from the run's init stream). */
  classifier(): Module;
  /** A new generator of the run's --generator for the data's shape. */
  generator(options: GeneratorOptions): Generator;
  /**
   * Adam at learning rate lr, on the run's schedule (--lr-decay-start,
   * --beta1-decayed) or, with "constant", at lr and beta1 0.9 throughout.
   */
  adam(params: Tensor[], lr: number, schedule?: AdamSchedule): Adam;
  /** A moving average of `c`'s weights at the run's --ema, in a new classifier; null where --ema is 0. */
  average(c: Module): WeightAverage | null;
}

/** A training method. */
export interface MethodEntry extends Alternative {
  /** Whether it trains on unlabelled batches too (then --ul-batch-size is among its options). */
  unlabelled: boolean;
  build(ctx: MethodContext): Method;
}

/** Everything the commands can train. */
export interface Registry {
  datasets: Record<string, DatasetEntry>;
  methods: Record<string, MethodEntry>;
  models: Record<string, ModelEntry>;
  generators: Record<string, GeneratorEntry>;
  /** Values every preset shares (where to compute, seeds, the run folder). */
  base: Record<string, Value>;
  /** The tables of `deno task reproduce`, by name. */
  tables: Record<string, Table>;
  /** The data set of a run that names none. */
  defaultDataset: string;
}

/** A top-level choice that --help shows as a section of its own. */
export interface SectionChoice extends ChoiceNode {
  section: string;
}

const positive = { kind: "int", min: 1, max: 1e9 } as const;

/** The options of every run, with the registry's choices at the top. */
export function runOptions(reg: Registry): Record<string, OptionNode> {
  const threads: OptionNode = {
    kind: "int",
    min: 0,
    max: 1024,
    help: "CPU threads (0: all cores)",
  };
  const tf32: OptionNode = {
    kind: "bool",
    help: "allow TF32 tensor-core math in GPU GEMMs and convolutions (faster, ~1e-3 relative)",
  };
  const section = (section: string, help: string, alternatives: Record<string, Alternative>) =>
    ({ kind: "choice", section, help, alternatives }) as SectionChoice;
  return {
    dataset: section("data set", "data set", reg.datasets),
    method: section("method", "training method", reg.methods),
    model: section("model", "classifier network", reg.models),
    labels: {
      ...positive,
      min: 2,
      all: true,
      help: "labelled training samples (all: every training sample, the supervised table's rows)",
    },
    iterations: { ...positive, help: "training iterations" },
    lr: { kind: "number", min: 0, max: 10, help: "Adam learning rate of the classifier" },
    lrDecayStart: {
      kind: "number",
      min: 0,
      max: 1,
      help: "fraction of training after which learning rates decay linearly to 0 and beta1 drops",
    },
    ema: {
      kind: "number",
      min: 0,
      max: 0.99999,
      group: "stabiliser",
      help:
        "decay of a moving average of C's weights that evaluations read, for every method (0: off); the mean of the steps so far until it reaches that decay; its batch-norm statistics are C's (on image sets, --bn-stats-batches re-estimates them)",
    },
    beta1Decayed: {
      kind: "number",
      min: 0,
      max: 0.999,
      help: "Adam beta1 once the decay has started (0.9 before)",
    },
    seed: {
      kind: "int",
      min: 0,
      max: 2 ** 32 - 1,
      help: "training seed (weights, batches, noise)",
    },
    dataSeed: {
      kind: "int",
      min: 0,
      max: 2 ** 32 - 1,
      help: "data seed (the labelled split; two circles: the points)",
    },
    backend: {
      kind: "choice",
      help: "where to compute",
      alternatives: {
        cpu: { help: "the C kernels (OpenBLAS, OpenMP)", options: { threads } },
        cuda: { help: "one NVIDIA GPU (CUDA, cuDNN, cuBLAS)", options: { tf32 } },
        auto: { help: "the GPU where there is one, else the CPU", options: { threads, tf32 } },
      },
    },
    precision: {
      kind: "choice",
      help:
        "what convolutions and GEMMs compute in (weights, sums and everything else stay float32)",
      alternatives: {
        fp32: { help: "float32" },
        bf16: {
          help:
            "bfloat16 inputs, float32 sums (CPU: AVX-512-BF16 or AMX through oneDNN; GPU: compute capability 8.0 or later, through cuDNN and cuBLAS; VAT's power iteration stays float32)",
        },
      },
    },
    evalInterval: { ...positive, help: "iterations between test evaluations" },
    checkpointInterval: { ...positive, help: "iterations between checkpoints" },
    logInterval: { ...positive, help: "iterations between metric lines" },
    out: {
      kind: "string",
      nullable: true,
      metavar: "DIR",
      help: "run folder (unset: runs/<dataset>-<method>-<date>)",
    },
  };
}
