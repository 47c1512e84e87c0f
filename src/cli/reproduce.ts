/**
 * `deno task reproduce NAME`: one of the paper's tables (src/registry/tables.ts).
 * Every row x column x seed is a `train` run in a subprocess, in a folder of
 * its own under --out. A finished run with the same configuration is read
 * back, and an interrupted one resumed, so an interrupted table continues
 * where it stopped. The command prints a markdown table of mean ± sample std
 * beside the paper's numbers and the projected time of the full table from
 * the measured time per iteration. Where the data set draws figures (two
 * circles), it also draws one panel per row and column (seed 1).
 * `--iterations-scale F` shortens every schedule (the table says so), and
 * flags after `--` go to every run (`-- --backend cuda`).
 * @module
 */
import { BUILTIN, type Registry } from "../registry/mod.ts";
import type { Table } from "../registry/registry.ts";
import { grid } from "../report/boundary.ts";
import { writePng } from "../report/png.ts";
import { UserError } from "../util/errors.ts";
import { exists, writeAtomic } from "../util/fs.ts";
import { duration, markdownTable } from "../util/format.ts";
import { flagOf } from "../util/options.ts";
import { readSlurmConfig, sbatchScript, shellQuote, type SlurmSettings, submit } from "./slurm.ts";
import { resolve } from "node:path";
import type { OptionSpec } from "../util/options.ts";
import { helpText, parseFlags, runMain } from "./args.ts";
import { writeReport } from "./report.ts";
import { trainConfig } from "./main.ts";
import { configRecord, readJson, readMetrics, writeJsonAtomic } from "./run.ts";
import { openTrained } from "./trained.ts";

function meanStd(xs: number[]): [number, number] {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

/** What a finished run reports. */
export interface CellRun {
  error: number;
  /** Seconds per training iteration (the last metrics line's rate: evaluations left out). */
  secondsPerIteration: number;
  iterations: number;
  /** The iterations of the cell's full (unscaled) schedule. */
  fullIterations: number;
}

/** Options that change how a run executes, not what it computes: a run may differ in them. */
const EXECUTION_ONLY = [
  "out",
  "threads",
  "backend",
  "tf32",
  "dataDir",
  "download",
  "downloadTimeout",
  "logInterval",
];

/** How a table is run. */
export interface TableOptions {
  seeds: number;
  jobs: number;
  /** Folder of the runs. */
  out: string;
  /** Column indices to run (the others are left out of the table). */
  columns: number[];
  /** Factor on every run's iterations (1: the full schedule). */
  iterationsScale: number;
  /** Flags every run adds, after the table's own. */
  extra: string[];
  /** The data folder of the runs of sets read from files (--data-dir). */
  dataDir?: string;
  /** Start over a finished run of another configuration (otherwise an error). */
  overwrite?: boolean;
  /** The script that trains (default src/cli/main.ts; tests give one with their registry). */
  trainScript?: string;
  /** One GPU (a CUDA_VISIBLE_DEVICES value) per worker: `jobs` is their number. */
  gpus?: string[];
  /** Each run's --threads (default: the cores split between the runs side by side). */
  threads?: number;
  /** Called as each cell's run ends, with its folder and its result. */
  onDone?: (done: number, total: number, out: string, result: CellRun | CellFailure) => void;
}

/** Each run's threads when `jobs` runs share this machine's cores (null: one run, all of them). */
function sharedThreads(jobs: number): number | null {
  return jobs > 1 ? Math.max(1, Math.floor((navigator.hardwareConcurrency ?? jobs) / jobs)) : null;
}

/** The flags every table run adds: no logging or evaluation on the way, and its threads. */
function quietArgs(reg: Registry, dataset: string, threads: number | null): string[] {
  return [
    ...(threads !== null ? ["--threads", String(threads)] : []),
    ...(reg.datasets[dataset].figure ? ["--no-figure"] : []),
    "--log-interval",
    "1000000000",
    "--eval-interval",
    "1000000000",
  ];
}

/** Runs `train` in a subprocess (with `env` added); throws a one-line UserError if it fails. */
async function trainProcess(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? "";
    throw new UserError(`Cannot finish the run ${args.join(" ")} (exit ${r.code}): ${err}`);
  }
}

/** The same run: equal options, whatever their order, apart from the execution-only ones. */
function sameRun(a: unknown, b: unknown): boolean {
  const strip = (r: unknown) =>
    Object.fromEntries(
      Object.entries(r as Record<string, unknown>).filter(([k]) => !EXECUTION_ONLY.includes(k)),
    );
  return sameRecord(strip(a), strip(b));
}

/** The same JSON, whatever the order of the keys. */
function sameRecord(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x < y ? -1 : 1)
          .map(([k, x]) => [k, canon(x)]),
      )
      : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

/**
 * The train flags that bring one cell's run in `out` to its end, or null
 * when it has finished with this configuration (read it back): --resume
 * when it stopped; a folder of another configuration is started over when
 * it holds no finished run (or with `overwrite`), and refused otherwise, so
 * a finished table is never lost to a changed flag.
 */
async function cellCommand(
  reg: Registry,
  args: string[],
  out: string,
  overwrite: boolean,
): Promise<string[] | null> {
  const withOut = [...args, "--out", out];
  const expected = configRecord(await trainConfig(withOut, reg), out);
  const saved = exists(`${out}/config.json`) ? await readJson(`${out}/config.json`) : null;
  const same = saved !== null && sameRun(saved, expected);
  const finished = exists(`${out}/summary.json`);
  if (saved !== null && !same && finished && !overwrite) {
    throw new UserError(
      `Cannot run ${out}: it holds a finished run of another configuration (give reproduce another --out, or --overwrite)`,
    );
  }
  if (same && finished) return null;
  return same ? ["--resume", out] : [...withOut, ...(saved !== null ? ["--overwrite"] : [])];
}

/** What the finished run in `out` reports. */
async function readCell(out: string): Promise<Omit<CellRun, "fullIterations">> {
  const summary = (await readJson(`${out}/summary.json`)) as {
    test_error: number;
    seconds: number;
    iterations: number;
  };
  const rates = readMetrics(`${out}/metrics.jsonl`).map((r) => r.rate)
    .filter((r): r is number => typeof r === "number");
  const rate = rates.at(-1);
  return {
    error: summary.test_error,
    secondsPerIteration: rate ? 1 / rate : summary.seconds / summary.iterations,
    iterations: summary.iterations,
  };
}

/** Runs jobs with at most `parallel` at a time; each job gets the index of the worker that runs it. */
async function pool<T>(jobs: ((worker: number) => Promise<T>)[], parallel: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (w: number) => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i](w);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, (_, w) => worker(w)));
  return results;
}

/** The flags of one cell, or null when the table does not run it. */
function cellArgs(table: Table, r: number, c: number): string[] | null {
  const row = table.rows[r];
  const cell = row.cells ? row.cells[c] : [];
  if (cell === null) return null;
  return [...row.args, ...cell, ...table.columns[c].args];
}

/** A cell run that failed: its folder and the one-line reason. */
export interface CellFailure {
  out: string;
  message: string;
}

/** One run of a table: its cell ("row|column"), its folder and its train flags (without --out). */
export interface CellTask {
  key: string;
  out: string;
  args: string[];
}

/** The table's runs, row by row, column by column, seed by seed (a Slurm array's task order). */
export function cellTasks(reg: Registry, table: Table, options: TableOptions): CellTask[] {
  const tasks: CellTask[] = [];
  table.rows.forEach((_, r) => {
    for (const c of options.columns) {
      const base = cellArgs(table, r, c);
      if (base === null) continue;
      const dataset = table.columns[c].dataset;
      for (let seed = 1; seed <= options.seeds; seed++) {
        const args = [
          ...base,
          ...["--seed", String(seed), "--data-seed", String(seed)],
          ...quietArgs(reg, dataset, options.threads ?? sharedThreads(options.jobs)),
          ...(options.dataDir !== undefined && "dataDir" in (reg.datasets[dataset].options ?? {})
            ? ["--data-dir", options.dataDir]
            : []),
          ...options.extra,
        ];
        tasks.push({ key: `${r}|${c}`, out: `${options.out}/${r}-${c}-${seed}`, args });
      }
    }
  });
  return tasks;
}

/** A task's flags at the table's schedule (scaled), and its cell's full iterations. */
async function scheduled(
  reg: Registry,
  task: CellTask,
  scale: number,
): Promise<{ args: string[]; full: number }> {
  const full = (await trainConfig(task.args, reg)).number("iterations");
  const scaled = Math.max(1, Math.round(full * scale));
  return { args: scale === 1 ? task.args : [...task.args, "--iterations", String(scaled)], full };
}

/**
 * The train flags of task `index` of the table (as `reproduce --cell-command`
 * prints them for a Slurm array task), or null when that run has finished.
 */
export async function taskCommand(
  reg: Registry,
  table: Table,
  options: TableOptions,
  index: number,
): Promise<string[] | null> {
  const tasks = cellTasks(reg, table, options);
  const task = tasks[index];
  if (!task) {
    throw new UserError(
      `Cannot use --cell-command ${index}: the table has ${tasks.length} runs (0 to ${
        tasks.length - 1
      })`,
    );
  }
  const { args } = await scheduled(reg, task, options.iterationsScale);
  return await cellCommand(reg, args, task.out, options.overwrite ?? false);
}

/**
 * Runs the table's cells; returns the runs keyed "row|column", in seed
 * order, and the runs that failed (the others go on without them). With
 * `gpus`, each of the `jobs` workers runs its cells on its own GPU.
 */
export async function runTable(
  reg: Registry,
  table: Table,
  options: TableOptions,
): Promise<{ runs: Map<string, CellRun[]>; failures: CellFailure[] }> {
  const tasks = cellTasks(reg, table, options);
  let done = 0;
  const script = options.trainScript ?? new URL("./main.ts", import.meta.url).pathname;
  const run = async (task: CellTask, worker: number): Promise<CellRun | CellFailure> => {
    try {
      const { args, full } = await scheduled(reg, task, options.iterationsScale);
      const command = await cellCommand(reg, args, task.out, options.overwrite ?? false);
      const env: Record<string, string> = options.gpus
        ? { CUDA_VISIBLE_DEVICES: options.gpus[worker] }
        : {};
      if (command) await trainProcess(script, command, env);
      const result = { ...await readCell(task.out), fullIterations: full };
      options.onDone?.(++done, tasks.length, task.out, result);
      return result;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const failure = { out: task.out, message: e.message };
      options.onDone?.(++done, tasks.length, task.out, failure);
      return failure;
    }
  };
  const results = await pool(tasks.map((t) => (w: number) => run(t, w)), options.jobs);
  const runs = new Map<string, CellRun[]>();
  const failures: CellFailure[] = [];
  tasks.forEach((t, i) => {
    const r = results[i];
    if ("message" in r) failures.push(r);
    else runs.set(t.key, [...(runs.get(t.key) ?? []), r]);
  });
  return { runs, failures };
}

/** The markdown table of a finished runTable: mean ± std per cell, "-" where nothing ran. */
export function resultsTable(table: Table, errors: Map<string, number[]>, columns?: number[]) {
  const cols = columns ?? table.columns.map((_, c) => c);
  const head = cols.flatMap((c) => [`${table.columns[c].label}: ours`, "paper"]);
  const rows = table.rows.map((row, r) => [
    row.label,
    ...cols.flatMap((c) => {
      const xs = errors.get(`${r}|${c}`);
      if (!xs?.length) return ["-", row.paper[c]];
      const [m, s] = meanStd(xs);
      return [`${m.toFixed(2)} ± ${s.toFixed(2)}`, row.paper[c]];
    }),
  ]);
  return markdownTable(["model", ...head], rows);
}

/**
 * Seconds the full table would take on this machine: each cell's mean
 * seconds per iteration times its full schedule, times the table's seeds.
 */
export function projectedSeconds(table: Table, runs: Map<string, CellRun[]>): number {
  let total = 0;
  for (const cell of runs.values()) {
    const perIteration = cell.reduce((s, r) => s + r.secondsPerIteration, 0) / cell.length;
    total += perIteration * cell[0].fullIterations * table.seeds;
  }
  return total;
}

/** "3.2 h", "14 min" or "40 s". */

/** One panel per row and column, from the seed-1 runs (data sets that draw figures). */
async function figure(
  reg: Registry,
  table: Table,
  errors: Map<string, number[]>,
  outDir: string,
): Promise<string | null> {
  const dataset = table.columns[0].dataset;
  const entry = reg.datasets[dataset];
  if (!entry.figure || table.columns.some((c) => c.dataset !== dataset)) return null;
  const panels = [];
  for (let c = 0; c < table.columns.length; c++) {
    for (let r = 0; r < table.rows.length; r++) {
      const t = await openTrained(reg, `${outDir}/${r}-${c}-1`);
      try {
        const err = errors.get(`${r}|${c}`)![0];
        const label = table.rows[r].label.replace(/ \(.*\)|, our settings/, "")
          .replace("lambda", "L");
        const column = table.columns[c].label.replace("noise ", "N=");
        panels.push(
          entry.figure(t.backend, t.exp, t.cfg, 240, `${label} ${column} ${err.toFixed(1)}%`),
        );
      } finally {
        t.close();
      }
    }
  }
  const fig = grid(panels, table.rows.length);
  const path = `${outDir}/${dataset}.png`;
  await writePng(path, fig.rgb, fig.width, fig.height);
  return path;
}

const OPTIONS: Record<string, OptionSpec> = {
  seeds: { kind: "int", min: 1, max: 1000, help: "seeds per cell (default: the table's)" },
  datasets: {
    kind: "string",
    metavar: "A,B",
    help: "run only these columns' data sets (default: every column)",
  },
  iterationsScale: {
    kind: "number",
    min: 1e-6,
    max: 1,
    default: 1,
    help: "factor on every run's iterations: a shortened schedule, which the table states",
  },
  jobs: {
    kind: "int",
    min: 1,
    max: 1024,
    help:
      "runs at a time, the cores split between them (default: one per core for two circles, else 1)",
  },
  out: {
    kind: "string",
    metavar: "DIR",
    help: "folder of the runs and the table (default runs/reproduce-<name>[-scale<F>])",
  },
  overwrite: {
    kind: "bool",
    default: false,
    help: "start over the finished runs of another configuration in --out (else an error)",
  },
  dataDir: {
    kind: "string",
    metavar: "DIR",
    help:
      "folder of the data set files, for the columns read from files (default: $ADVSSL_DATA_DIR, else data/)",
  },
  launcher: {
    kind: "choice",
    choices: ["local", "slurm"],
    default: "local",
    help:
      "local: runs here, --jobs at a time (or one per --gpus entry); slurm: one sbatch job array, a task per run (docs/cluster.md)",
  },
  gpus: {
    kind: "string",
    metavar: "LIST",
    help:
      "local: one run at a time on each of these GPUs (CUDA_VISIBLE_DEVICES values, as 0,1,2,3)",
  },
  dryRun: { kind: "bool", default: false, help: "slurm: print the sbatch script, submit nothing" },
  partition: {
    kind: "string",
    metavar: "NAME",
    help: "slurm: the partition (#SBATCH --partition)",
  },
  account: { kind: "string", metavar: "NAME", help: "slurm: the account (#SBATCH --account)" },
  time: {
    kind: "string",
    metavar: "LIMIT",
    help:
      "slurm: each task's time limit (#SBATCH --time, as 12:00:00); a task stopped by it requeues",
  },
  gpusPerTask: {
    kind: "int",
    min: 0,
    max: 64,
    help: "slurm: GPUs of each task (#SBATCH --gpus-per-task; default 0)",
  },
  cpusPerTask: {
    kind: "int",
    min: 1,
    max: 1024,
    help: "slurm: CPUs of each task (#SBATCH --cpus-per-task), each run's --threads (default 1)",
  },
  slurmConfig: {
    kind: "string",
    metavar: "FILE",
    help:
      "slurm: a JSON file of these settings (partition, account, time, gpusPerTask, cpusPerTask, warningSeconds, extra); flags win",
  },
  cellCommand: {
    kind: "int",
    min: 0,
    max: 1e9,
    help:
      "internal (a Slurm task runs it): print run I's train flags, NUL-separated; none when finished",
  },
};

/** The flags that apply to one launcher only. */
const SLURM_ONLY = [
  "dryRun",
  "partition",
  "account",
  "time",
  "gpusPerTask",
  "slurmConfig",
] as const;
const LOCAL_ONLY = ["gpus", "jobs"] as const;

/**
 * Writes the table's sbatch script (a job array, a task per run) into
 * OUT/slurm/ and submits it, or prints it with --dry-run.
 */
async function launchSlurm(
  reg: Registry,
  table: Table,
  options: TableOptions,
  name: string,
  v: Record<string, unknown>,
): Promise<void> {
  const file = v.slurmConfig ? readSlurmConfig(v.slurmConfig as string) : {};
  const pick = <K extends keyof SlurmSettings>(k: K, fallback: SlurmSettings[K]) =>
    (v[k] as SlurmSettings[K] | undefined) ?? file[k] ?? fallback;
  const settings: SlurmSettings = {
    partition: pick("partition", undefined),
    account: pick("account", undefined),
    time: pick("time", undefined),
    gpusPerTask: pick("gpusPerTask", 0),
    cpusPerTask: pick("cpusPerTask", 1),
    warningSeconds: file.warningSeconds ?? 120,
    extra: file.extra ?? [],
  };
  const out = resolve(options.out);
  const tasks = cellTasks(reg, table, { ...options, out, threads: settings.cpusPerTask }).length;
  // What each task passes to reproduce --cell-command: the same runs, in the same order.
  const reproduceArgs = [
    name,
    "--seeds",
    String(options.seeds),
    "--iterations-scale",
    String(options.iterationsScale),
    "--out",
    out,
    "--cpus-per-task",
    String(settings.cpusPerTask),
    ...(v.datasets !== undefined ? ["--datasets", v.datasets as string] : []),
    ...(options.dataDir !== undefined ? ["--data-dir", resolve(options.dataDir)] : []),
    ...(options.overwrite ? ["--overwrite"] : []),
    ...(options.extra.length ? ["--", ...options.extra] : []),
  ];
  const script = sbatchScript({
    name,
    tasks,
    out,
    reproduceArgs,
    repo: resolve(new URL("../..", import.meta.url).pathname),
    deno: Deno.execPath(),
    settings,
  });
  if (v.dryRun) {
    console.log(script);
    return;
  }
  await Deno.mkdir(`${out}/slurm`, { recursive: true });
  const path = `${out}/slurm/array.sbatch`;
  await writeAtomic(path, new TextEncoder().encode(script));
  const id = await submit(path);
  console.log(
    `submitted job array ${id}: ${tasks} tasks, one per run, logs in ${out}/slurm/ (squeue -j ${id})`,
  );
  console.log(
    `when every task has ended, read the table: deno task reproduce ${
      reproduceArgs.map(shellQuote).join(" ").replace(/ --cpus-per-task \d+/, "")
    }`,
  );
}

/** Runs a table as the command line says; returns the markdown written to table.md. */
export async function reproduce(
  args: string[],
  reg: Registry = BUILTIN,
  trainScript?: string,
): Promise<string | null> {
  const split = args.indexOf("--");
  const [own, extra] = split < 0 ? [args, []] : [args.slice(0, split), args.slice(split + 1)];
  const names = Object.keys(reg.tables).join(", ");
  const parsed = parseFlags(own, OPTIONS, { min: 0, max: 1, what: `a table name (${names})` });
  if (parsed.help) {
    console.log(helpText(
      "deno task reproduce NAME [flags] [-- train flags for every run]",
      `Runs one of the paper's tables over several seeds and prints it beside the paper's numbers. Tables: ${names}.`,
      OPTIONS,
    ));
    return null;
  }
  const name = parsed.positionals[0];
  const table = name === undefined ? undefined : reg.tables[name];
  if (!table) throw new UserError(`Cannot reproduce '${name ?? ""}': the tables are: ${names}`);
  const v = parsed.values;
  const launcher = v.launcher as "local" | "slurm";
  const given = (k: string) => v[k] !== undefined && v[k] !== false;
  for (const k of launcher === "slurm" ? LOCAL_ONLY : SLURM_ONLY) {
    if (given(k)) {
      throw new UserError(
        `Cannot use ${flagOf(k)}: it applies to --launcher ${
          launcher === "slurm" ? "local" : "slurm"
        }`,
      );
    }
  }
  if (given("cellCommand") && launcher === "slurm") {
    throw new UserError("Cannot use --cell-command with --launcher slurm: a task runs it itself");
  }
  if (given("cpusPerTask") && launcher === "local" && !given("cellCommand")) {
    throw new UserError("Cannot use --cpus-per-task: it applies to --launcher slurm");
  }
  const gpus = (v.gpus as string | undefined)?.split(",").map((g) => g.trim());
  if (gpus?.some((g) => !/^\d+$/.test(g)) || (gpus && new Set(gpus).size !== gpus.length)) {
    throw new UserError(`Cannot use --gpus ${v.gpus}: expected distinct GPU numbers, as 0,1,2,3`);
  }
  if (gpus && given("jobs") && v.jobs !== gpus.length) {
    throw new UserError(`Cannot use --jobs ${v.jobs} with --gpus ${v.gpus}: one run per GPU`);
  }
  const seeds = (v.seeds as number | undefined) ?? table.seeds;
  const allCircles = table.columns.every((c) => c.dataset === "circles");
  const jobs = gpus?.length ?? (v.jobs as number | undefined) ??
    (allCircles ? navigator.hardwareConcurrency ?? 2 : 1);
  const scale = v.iterationsScale as number;
  // A shortened table keeps its runs apart from the full one's.
  const out = (v.out as string | undefined) ??
    `runs/reproduce-${name}${scale === 1 ? "" : `-scale${scale}`}`;
  const known = table.columns.map((c) => c.dataset);
  const wanted = (v.datasets as string | undefined)?.split(",").map((s) => s.trim());
  const bad = wanted?.find((d) => !known.includes(d));
  if (bad !== undefined) {
    throw new UserError(
      `Cannot use --datasets ${v.datasets}: '${bad}' is not a column of ${name} (${
        known.join(", ")
      })`,
    );
  }
  const columns = table.columns.map((_, c) => c).filter((c) =>
    !wanted || wanted.includes(table.columns[c].dataset)
  );
  const options: TableOptions = {
    seeds,
    jobs,
    out,
    columns,
    iterationsScale: scale,
    extra,
    ...(v.dataDir !== undefined ? { dataDir: v.dataDir as string } : {}),
    overwrite: v.overwrite as boolean,
    trainScript,
    ...(gpus ? { gpus } : {}),
    ...(given("cpusPerTask") ? { threads: v.cpusPerTask as number } : {}),
  };
  if (given("cellCommand")) {
    const command = await taskCommand(reg, table, options, v.cellCommand as number);
    Deno.stdout.writeSync(new TextEncoder().encode((command ?? []).map((a) => `${a}\0`).join("")));
    return null;
  }
  if (launcher === "slurm") {
    await launchSlurm(reg, table, options, name, v);
    return null;
  }
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
  const { runs, failures } = await runTable(reg, table, {
    ...options,
    onDone: (d, n, run, result) => {
      // Cells of one table take about as long as each other: the mean so far projects the rest.
      const elapsed = (performance.now() - t0) / 1000;
      console.log(
        `${d}/${n} runs: ${run} ${
          "message" in result ? "failed" : `test error ${result.error.toFixed(2)}%`
        } (${duration(elapsed)} so far${
          d < n ? `, about ${duration(elapsed / d * (n - d))} left` : ""
        })`,
      );
    },
  });
  const errors = new Map([...runs].map(([k, rs]) => [k, rs.map((r) => r.error)]));
  const iterations = [...runs.values()].map((rs) => `${rs[0].iterations}/${rs[0].fullIterations}`);
  const note = scale === 1
    ? ""
    : `\n\nShortened schedule: --iterations-scale ${scale} (iterations run/full per cell: ${
      [...new Set(iterations)].join(", ")
    }); not comparable with the paper's numbers.`;
  const projected = projectedSeconds(table, runs);
  const markdown = `${table.title}, mean ± std over ${seeds} seeds\n\n${
    resultsTable(table, errors, columns)
  }${note}\n\nProjected time of the full schedules (${table.seeds} seeds, the columns run), one run at a time on this machine${
    jobs > 1 ? ` (measured ${jobs} runs at a time)` : ""
  }: ${duration(projected)}.`;
  // Where every run failed before its folder was made, the table's folder may not exist yet.
  await Deno.mkdir(out, { recursive: true });
  await writeAtomic(`${out}/table.md`, new TextEncoder().encode(markdown + "\n"));
  await writeJsonAtomic(`${out}/runs.json`, Object.fromEntries(runs));
  const png = failures.length ? null : await figure(reg, table, errors, out);
  const report = await writeReport([out]);
  console.log(`\n${markdown}\n\n(${secs()} s)`);
  console.log(`${png ? `figure: ${png}\n` : ""}table: ${out}/table.md\nreport: ${report}`);
  if (failures.length) {
    for (const f of failures) console.error(`failed: ${f.message}`);
    throw new UserError(
      `Cannot finish the table: ${failures.length} of its runs failed (listed above; the table leaves them out)`,
    );
  }
  return markdown;
}

if (import.meta.main) await runMain(async (args) => void await reproduce(args));
