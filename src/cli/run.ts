/**
 * A run's folder: the resolved config, metrics as JSON lines, the summary,
 * checkpoints and figures. Every file is written to a temporary name and
 * renamed, so an interrupted run never leaves a half-written file behind.
 * @module
 */
import { exists, writeAtomic } from "../util/fs.ts";
import type { RunConfig } from "../registry/config.ts";
import type { Registry } from "../registry/registry.ts";
import { fileValues, resolveRun } from "../registry/resolve.ts";
import { UserError } from "../util/errors.ts";

/** Writes JSON to `path` through a temporary file. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
}

/** Reads a JSON file or throws a UserError naming it. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UserError(
      `Cannot read ${path}: ${
        e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
      }`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`Cannot read ${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** The configuration a run saved (its config.json), resolved again against the registry. */
export async function savedConfig(reg: Registry, path: string): Promise<RunConfig> {
  return resolveRun(reg, { file: fileValues(reg, await readJson(path), path) });
}

/** The files of one run. */
export class RunDir {
  constructor(readonly path: string) {}

  get config(): string {
    return `${this.path}/config.json`;
  }
  get metrics(): string {
    return `${this.path}/metrics.jsonl`;
  }
  get summary(): string {
    return `${this.path}/summary.json`;
  }
  get checkpoint(): string {
    return `${this.path}/checkpoint.bin`;
  }
  file(name: string): string {
    return `${this.path}/${name}`;
  }

  /** A new run folder; refuses one that already holds a run. */
  static create(path: string): RunDir {
    if (exists(`${path}/config.json`)) {
      throw new UserError(
        `Cannot start a run in ${path}: it holds a run already (continue it with --resume ${path}, or choose another --out)`,
      );
    }
    Deno.mkdirSync(path, { recursive: true });
    return new RunDir(path);
  }

  /** An existing run folder, for --resume. */
  static open(path: string): RunDir {
    for (const f of ["config.json", "checkpoint.bin"]) {
      if (!exists(`${path}/${f}`)) throw new UserError(`Cannot resume ${path}: it has no ${f}`);
    }
    return new RunDir(path);
  }

  /** A fresh name under runs/: dataset-method-date-time, with a suffix if taken. */
  static defaultPath(dataset: string, method: string, now = new Date()): string {
    const p = (n: number) => String(n).padStart(2, "0");
    const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${
      p(now.getHours())
    }${p(now.getMinutes())}${p(now.getSeconds())}`;
    const base = `runs/${dataset}-${method}-${stamp}`;
    let path = base;
    for (let i = 2; exists(path); i++) path = `${base}-${i}`;
    return path;
  }

  /** Appends one JSON line to the metrics. */
  appendMetrics(record: Record<string, unknown>): void {
    Deno.writeTextFileSync(this.metrics, JSON.stringify(record) + "\n", { append: true });
  }

  /** Drops metric lines past `iteration` (a resumed run recomputes them), atomically. */
  async truncateMetrics(iteration: number): Promise<void> {
    if (!exists(this.metrics)) return;
    const kept = (await Deno.readTextFile(this.metrics)).split("\n").filter((l) => {
      if (!l.trim()) return false;
      try {
        return JSON.parse(l).iteration <= iteration;
      } catch {
        return false;
      }
    });
    const tmp = `${this.metrics}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, kept.map((l) => l + "\n").join(""));
    await Deno.rename(tmp, this.metrics);
  }
}
