/**
 * The built-in registry: every data set, model, generator and method the
 * tool can train, and the values every preset shares.
 * @module
 */
import { DATASETS } from "./datasets.ts";
import { METHODS } from "./methods.ts";
import { GENERATORS, MODELS } from "./models.ts";
import { TABLES } from "./tables.ts";
import type { Registry } from "./registry.ts";

export type { Registry } from "./registry.ts";

/** What `deno task train` and `deno task reproduce` read. */
export const BUILTIN: Registry = {
  datasets: DATASETS,
  methods: METHODS,
  models: MODELS,
  generators: GENERATORS,
  base: {
    seed: 1,
    dataSeed: 1,
    backend: "auto",
    threads: 0,
    tf32: true,
    precision: "fp32",
    ema: 0,
    out: null,
  },
  defaultDataset: "circles",
  tables: TABLES,
};
