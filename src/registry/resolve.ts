/**
 * From what a user said to a run's configuration. A run starts from its
 * preset (named by --preset, else <dataset>-<method>) over the registry's
 * base values, then a --config file, then the flags. Presets are the only
 * source of defaults. An option the user gives that does not apply to the
 * run (another method's, another data set's, another generator output's) is
 * an error saying why; the configuration keeps only the options that apply.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { convert, flagOf, keyOf, metavar, type Value } from "../util/options.ts";
import { RunConfig } from "./config.ts";
import { type DatasetEntry, type Preset, type Registry, runOptions } from "./registry.ts";
import { type FlatOption, flatten, isActive, whyInactive } from "./tree.ts";

/** Every option of a registry's runs, flattened. */
export function runTable(reg: Registry): Map<string, FlatOption> {
  return flatten(runOptions(reg));
}

/** Every preset by name, with its data set. */
export function allPresets(reg: Registry): Map<string, Preset & { dataset: string }> {
  const out = new Map<string, Preset & { dataset: string }>();
  for (const [name, ds] of Object.entries(reg.datasets) as [string, DatasetEntry][]) {
    for (const [p, preset] of Object.entries(ds.presets)) {
      if (out.has(p)) throw new Error(`Cannot register preset ${p} twice`);
      out.set(p, { ...preset, dataset: name });
    }
  }
  return out;
}

/** Values read from a JSON object (a --config file or a run's config.json). */
export interface FileValues {
  path: string;
  values: Record<string, Value>;
  /** The file's "preset" key. */
  preset?: string;
}

/** Checks a --config file's JSON: option keys (camelCase or kebab-case), each value converted. */
export function fileValues(reg: Registry, json: unknown, path: string): FileValues {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UserError(`Cannot read ${path}: expected a JSON object of options`);
  }
  const table = runTable(reg);
  const out: FileValues = { path, values: {} };
  for (const [raw, v] of Object.entries(json)) {
    const key = keyOf(raw);
    if (key === "preset") {
      out.preset = convert({ kind: "string", help: "" }, v, `'${raw}' in ${path}`) as string;
      continue;
    }
    const opt = table.get(key);
    if (!opt) {
      throw new UserError(
        `Cannot use '${raw}' in ${path}: unknown option (run with --help to list the options)`,
      );
    }
    out.values[key] = convert(opt.spec, v, `'${raw}' in ${path}`);
  }
  return out;
}

/** What a user asked for. */
export interface RunRequest {
  /** --preset, if given. */
  preset?: string | null;
  file?: FileValues;
  /** The flags' values (run options only). */
  flags?: Record<string, Value>;
}

function pickPreset(reg: Registry, req: RunRequest, given: Record<string, Value>) {
  const presets = allPresets(reg);
  const names = () => [...presets.keys()].join(", ");
  const named = req.preset ?? req.file?.preset;
  if (named) {
    const preset = presets.get(named);
    if (!preset) {
      const where = req.preset ? "--preset" : `'preset' in ${req.file!.path}:`;
      throw new UserError(`Cannot use ${where} ${named}: no such preset (presets: ${names()})`);
    }
    for (const k of ["dataset", "method"]) {
      if (k in given && given[k] !== preset.values[k]) {
        throw new UserError(
          `Cannot use ${flagOf(k)} ${given[k]} with preset ${named}: it is a preset for ${
            flagOf(k)
          } ${preset.values[k]}`,
        );
      }
    }
    return [named, preset] as const;
  }
  const dataset = (given.dataset as string | undefined) ?? reg.defaultDataset;
  const method = (given.method as string | undefined) ?? reg.datasets[dataset].defaultMethod;
  const name = `${dataset}-${method}`;
  const preset = presets.get(name);
  if (!preset) {
    throw new UserError(
      `Cannot train --method ${method} on --dataset ${dataset}: there is no preset ${name} to start from (presets: ${names()})`,
    );
  }
  return [name, preset] as const;
}

/** The configuration a request resolves to; a UserError names any option that does not fit. */
export function resolveRun(reg: Registry, req: RunRequest): RunConfig {
  const table = runTable(reg);
  const fromFile = req.file?.values ?? {};
  const flags = req.flags ?? {};
  const given = { ...fromFile, ...flags };
  const [name, preset] = pickPreset(reg, req, given);
  const merged: Record<string, Value> = { ...reg.base, ...preset.values, ...given };
  for (const key of Object.keys(given)) {
    const opt = table.get(key)!;
    if (!isActive(opt, merged)) {
      const where = key in flags ? flagOf(key) : `'${key}' in ${req.file!.path}`;
      throw new UserError(`Cannot use ${where}: ${whyInactive(opt, merged)}`);
    }
  }
  const values: Record<string, Value> = {};
  for (const opt of table.values()) {
    if (!isActive(opt, merged)) continue;
    if (!(opt.key in merged)) {
      const word = metavar(opt.spec);
      throw new UserError(
        `Cannot run preset ${name} this way: it has no value for ${flagOf(opt.key)} (give ${
          flagOf(opt.key)
        }${word ? ` ${word}` : ""})`,
      );
    }
    values[opt.key] = merged[opt.key];
  }
  return new RunConfig(values, name);
}
