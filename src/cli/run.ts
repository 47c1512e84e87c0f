/**
 * A run's folder: the resolved config, metrics as JSON lines, the summary,
 * checkpoints and figures. The tool marks each folder it makes as its own
 * (`.advssl-run`, written first) and refuses to write into one it did not
 * make; one process at a time holds a run folder (an exclusive lock on
 * `.lock`, released by the operating system when the process dies, so a
 * killed run never leaves a stale lock). Every file is written to a
 * temporary name and renamed, so an interrupted run never leaves a
 * half-written file behind; temporary files of dead processes are removed
 * when a run folder is opened.
 * @module
 */
import { resolve } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import type { RunConfig } from "../registry/config.ts";
import type { Registry } from "../registry/registry.ts";
import { fileValues, resolveRun } from "../registry/resolve.ts";
import { UserError } from "../util/errors.ts";
import { exists, fileError, TEMP_NAME, writeAtomic } from "../util/fs.ts";
import { eventFile, metricRecord, versionRecord } from "../report/tfevents.ts";
import { DATA_DIR_ENV } from "../data/catalog.ts";

/** The tool's version, as deno.json gives it (recorded in every run folder's marker). */
export const VERSION: string = denoConfig.version;

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

/**
 * What a run's config.json holds: the preset, every option that applies, and
 * the folder; the data folder as an absolute path, so that the run can be
 * evaluated and resumed from any working folder.
 */
export function configRecord(cfg: RunConfig, out: string): Record<string, unknown> {
  const dataDir = cfg.has("dataDir") ? cfg.path("dataDir") : null;
  return {
    preset: cfg.preset,
    ...cfg.values,
    ...(dataDir ? { dataDir: resolve(dataDir) } : {}),
    out,
  };
}

/**
 * The configuration a run saved (its config.json), resolved again against
 * the registry. Where the data live is not part of it (the files' checksums
 * say whether they are the same): `dataDir` (--data-dir), else
 * $ADVSSL_DATA_DIR, replaces the saved folder; --data-dir for a run that reads
 * no data files is a UserError.
 */
export async function savedConfig(
  reg: Registry,
  path: string,
  dataDir?: string,
): Promise<RunConfig> {
  const file = fileValues(reg, await readJson(path), path);
  const cfg = resolveRun(reg, { file });
  if (!cfg.has("dataDir")) {
    if (dataDir === undefined) return cfg;
    throw new UserError(
      `Cannot use --data-dir: the run of ${path} (${cfg.string("dataset")}) reads no data files`,
    );
  }
  const moved = dataDir ?? Deno.env.get(DATA_DIR_ENV);
  return moved === undefined ? cfg : resolveRun(reg, { file, flags: { dataDir: resolve(moved) } });
}

/**
 * The records of a metrics.jsonl file, in order; none when it is absent. A
 * line that is not JSON (the tail of a write cut short) is left out.
 */
export function readMetrics(path: string): Record<string, unknown>[] {
  if (!exists(path)) return [];
  return Deno.readTextFileSync(path).split("\n").flatMap((l) => {
    try {
      return l.trim() ? [JSON.parse(l)] : [];
    } catch {
      return [];
    }
  });
}

/** The marker that says the tool made a folder. */
export const MARKER = ".advssl-run";
/** The file whose exclusive lock says a process is using the folder; it holds that PID. */
export const LOCK = ".lock";
/** The files a run writes: what --overwrite removes (and nothing else). */
export const RUN_FILES = [
  "config.json",
  "metrics.jsonl",
  "events.out.tfevents.advssl",
  "summary.json",
  "checkpoint.bin",
  "boundary.png",
  "test_error.png",
  "confusion.png",
  "adversarial.png",
  "report.html",
] as const;
/** The name of one of a run's files. */
export type RunFile = typeof RUN_FILES[number];

/** The files of one run, held by this process until {@linkcode RunDir.close}. */
export class RunDir {
  private constructor(readonly path: string, private lock: Deno.FsFile | null) {}

  get config(): string {
    return this.file("config.json");
  }
  get metrics(): string {
    return this.file("metrics.jsonl");
  }
  /** TensorBoard's view of the metrics (src/report/tfevents.ts). */
  get events(): string {
    return this.file("events.out.tfevents.advssl");
  }
  get summary(): string {
    return this.file("summary.json");
  }
  get checkpoint(): string {
    return this.file("checkpoint.bin");
  }
  file(name: RunFile): string {
    return `${this.path}/${name}`;
  }

  /** Whether the run has written a checkpoint (a resume continues from it, else from the start). */
  get hasCheckpoint(): boolean {
    return exists(this.checkpoint);
  }

  /**
   * A new run in `path` (--out): a new folder, an empty one, or one the tool
   * made that holds no run yet; with `overwrite`, a run of the tool's that is
   * there is removed first (its files only).
   */
  static async create(path: string, overwrite = false): Promise<RunDir> {
    const where = `Cannot start a run in ${path}`;
    RunDir.check(path, overwrite);
    try {
      Deno.mkdirSync(path, { recursive: true });
    } catch (e) {
      throw fileError(e, `${where}: cannot create the folder`);
    }
    const dir = new RunDir(path, await acquire(path, where));
    try {
      // Again, now that the folder is held: another process may have started a run meanwhile.
      checkFolder(path, overwrite, false);
      if (overwrite) {
        for (const f of RUN_FILES) await removeIfThere(dir.file(f), where);
      }
      if (!exists(`${path}/${MARKER}`)) {
        await writeJsonAtomic(`${path}/${MARKER}`, {
          tool: "advssl",
          version: VERSION,
          created: new Date().toISOString(),
        });
      }
      await dir.removeStaleTemporaries();
      return dir;
    } catch (e) {
      dir.close();
      throw e;
    }
  }

  /**
   * Refuses a `path` that cannot take a new run (without writing anything):
   * an empty or root path, a file, a folder the tool did not make that is
   * not empty, or a run already there (unless `overwrite`).
   */
  static check(path: string, overwrite = false): void {
    checkFolder(path, overwrite, true);
  }

  /** The run in `path` (--resume), with or without a checkpoint. */
  static async open(path: string): Promise<RunDir> {
    const where = `Cannot resume ${path}`;
    checkPath(path, "--resume");
    const stat = statOf(path);
    if (!stat) throw new UserError(`${where}: no such folder`);
    if (!stat.isDirectory) throw new UserError(`${where}: it is a file, not a run folder`);
    if (!exists(`${path}/config.json`)) {
      throw new UserError(`${where}: it has no config.json (it is not a run folder)`);
    }
    const dir = new RunDir(path, await acquire(path, where));
    try {
      await dir.removeStaleTemporaries();
      return dir;
    } catch (e) {
      dir.close();
      throw e;
    }
  }

  /** Releases the folder (the lock); the files stay. */
  close(): void {
    this.lock?.close();
    this.lock = null;
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

  /**
   * Appends one JSON line to the metrics, with its wall time (`time`, Unix
   * seconds), and its scalars to the TensorBoard event file.
   */
  appendMetrics(record: Record<string, unknown>): void {
    const now = Date.now() / 1000;
    const line = { ...record, time: now };
    try {
      Deno.writeTextFileSync(this.metrics, JSON.stringify(line) + "\n", { append: true });
    } catch (e) {
      throw fileError(e, `Cannot write ${this.metrics}`);
    }
    try {
      const head = exists(this.events) ? [] : [versionRecord(now)];
      for (const r of [...head, metricRecord(line, now)]) {
        Deno.writeFileSync(this.events, r, { append: true });
      }
    } catch (e) {
      throw fileError(e, `Cannot write ${this.events}`);
    }
  }

  /** The test errors the metrics hold, in order. */
  testErrors(): { iteration: number; error: number }[] {
    return readMetrics(this.metrics)
      .filter((r) => typeof r.test_error === "number")
      .map((r) => ({ iteration: r.iteration as number, error: r.test_error as number }));
  }

  /**
   * Drops metric lines past `iteration` (a resumed run recomputes them),
   * atomically, and writes the event file anew from the lines kept.
   */
  async truncateMetrics(iteration: number): Promise<void> {
    if (!exists(this.metrics)) return;
    const kept = readMetrics(this.metrics).filter((r) => (r.iteration as number) <= iteration);
    await writeAtomic(
      this.metrics,
      new TextEncoder().encode(kept.map((r) => JSON.stringify(r) + "\n").join("")),
    );
    await writeAtomic(this.events, eventFile(kept, Date.now() / 1000));
  }

  /** Removes the temporary files of earlier processes (none can be running: this one holds the lock). */
  private async removeStaleTemporaries(): Promise<void> {
    for (const e of Deno.readDirSync(this.path)) {
      if (e.isFile && TEMP_NAME.test(e.name)) {
        await removeIfThere(`${this.path}/${e.name}`, `Cannot clean ${this.path}`);
      }
    }
  }
}

/** RunDir.check's rules; `probe`: refuse a folder another process holds (false once this one does). */
function checkFolder(path: string, overwrite: boolean, probe: boolean): void {
  const where = `Cannot start a run in ${path}`;
  checkPath(path, "--out");
  const stat = statOf(path);
  if (!stat) return;
  if (!stat.isDirectory) throw new UserError(`${where}: it is a file, not a folder`);
  if (!exists(`${path}/${MARKER}`)) {
    if (isEmptyFolder(path)) return;
    throw new UserError(
      `${where}: the folder exists and the tool did not make it (it has no ${MARKER}); choose a new --out`,
    );
  }
  if (probe) probeLock(path, where);
  if (overwrite || !exists(`${path}/config.json`)) return;
  const how = exists(`${path}/checkpoint.bin`)
    ? `continue it with --resume ${path}`
    : `it stopped before its first checkpoint: continue it from the start with --resume ${path}`;
  throw new UserError(
    `${where}: it holds a run already (${how}, start it over with --overwrite, or choose another --out)`,
  );
}

/** Refuses an empty path and the file system's root. */
function checkPath(path: string, flag: string): void {
  if (!path.trim()) throw new UserError(`Cannot use ${flag}: expected a folder, got ''`);
  if (resolve(path) === "/") {
    throw new UserError(`Cannot use ${flag} ${path}: a run folder cannot be the root folder`);
  }
}

function statOf(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw fileError(e, `Cannot use ${path}`);
  }
}

/** Empty, or holding only a lock (this process's, between taking it and writing the marker). */
function isEmptyFolder(path: string): boolean {
  try {
    for (const e of Deno.readDirSync(path)) if (e.name !== LOCK) return false;
    return true;
  } catch (e) {
    throw fileError(e, `Cannot read ${path}`);
  }
}

async function removeIfThere(path: string, what: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fileError(e, `${what}: cannot remove ${path}`);
  }
}

/** The one-line error for a folder another process holds. */
function heldBy(lockPath: string, where: string): UserError {
  let holder = "another process";
  try {
    const pid = Deno.readTextFileSync(lockPath).trim();
    if (/^\d+$/.test(pid)) holder = `process ${pid}`;
  } catch { /* unreadable: say so without a PID */ }
  return new UserError(
    `${where}: ${holder} is using it (a train or --resume holds ${lockPath}); wait for it or stop it`,
  );
}

/** Refuses a folder whose lock another process holds, without taking it (a read-only check). */
function probeLock(path: string, where: string): void {
  const lockPath = `${path}/${LOCK}`;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(lockPath, { read: true });
  } catch {
    return; // no lock file: nobody holds it
  }
  try {
    if (!file.tryLockSync(true)) throw heldBy(lockPath, where);
  } finally {
    file.close();
  }
}

/** Takes the folder's lock (without waiting) and writes this PID into it. */
async function acquire(path: string, where: string): Promise<Deno.FsFile> {
  const lockPath = `${path}/${LOCK}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath, { read: true, write: true, create: true });
  } catch (e) {
    throw fileError(e, `${where}: cannot open ${lockPath} (is the folder writable?)`);
  }
  if (!await file.tryLock(true)) {
    file.close();
    throw heldBy(lockPath, where);
  }
  try {
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (e) {
    file.close();
    throw fileError(e, `${where}: cannot write ${lockPath}`);
  }
  return file;
}
