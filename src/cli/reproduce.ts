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
import { duration } from "../util/format.ts";
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
  /** Called as each cell's run ends, with its folder and its result. */
  onDone?: (done: number, total: number, out: string, result: CellRun | CellFailure) => void;
}

/** The flags every table run adds: no logging or evaluation on the way; one thread when parallel. */
function quietArgs(reg: Registry, dataset: string, jobs: number): string[] {
  return [
    ...(jobs > 1 ? ["--threads", "1"] : []),
    ...(reg.datasets[dataset].figure ? ["--no-figure"] : []),
    "--log-interval",
    "1000000000",
    "--eval-interval",
    "1000000000",
  ];
}

/** Runs `train` in a subprocess; throws a one-line UserError if it fails. */
async function trainProcess(script: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
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
 * One cell's run in `out`: read back when it finished with this
 * configuration, resumed when it stopped; a folder of another configuration
 * is started over when it holds no finished run (or with `overwrite`), and
 * refused otherwise, so a finished table is never lost to a changed flag.
 */
async function runCell(
  reg: Registry,
  script: string,
  args: string[],
  out: string,
  overwrite: boolean,
): Promise<Omit<CellRun, "fullIterations">> {
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
  if (!(same && finished)) {
    if (same) await trainProcess(script, ["--resume", out]);
    else await trainProcess(script, [...withOut, ...(saved !== null ? ["--overwrite"] : [])]);
  }
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

/** Runs jobs with at most `parallel` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], parallel: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
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

/**
 * Runs the table's cells; returns the runs keyed "row|column", in seed
 * order, and the runs that failed (the others go on without them).
 */
export async function runTable(
  reg: Registry,
  table: Table,
  options: TableOptions,
): Promise<{ runs: Map<string, CellRun[]>; failures: CellFailure[] }> {
  const tasks: { key: string; run: () => Promise<CellRun | CellFailure> }[] = [];
  let done = 0;
  table.rows.forEach((_, r) => {
    for (const c of options.columns) {
      const base = cellArgs(table, r, c);
      if (base === null) continue;
      const dataset = table.columns[c].dataset;
      for (let seed = 1; seed <= options.seeds; seed++) {
        const args = [
          ...base,
          ...["--seed", String(seed), "--data-seed", String(seed)],
          ...quietArgs(reg, dataset, options.jobs),
          ...(options.dataDir !== undefined && "dataDir" in (reg.datasets[dataset].options ?? {})
            ? ["--data-dir", options.dataDir]
            : []),
          ...options.extra,
        ];
        const out = `${options.out}/${r}-${c}-${seed}`;
        tasks.push({
          key: `${r}|${c}`,
          run: async () => {
            try {
              const full = (await trainConfig(args, reg)).number("iterations");
              const scaled = Math.max(1, Math.round(full * options.iterationsScale));
              const run = await runCell(
                reg,
                options.trainScript ?? new URL("./main.ts", import.meta.url).pathname,
                options.iterationsScale === 1 ? args : [...args, "--iterations", String(scaled)],
                out,
                options.overwrite ?? false,
              );
              const result = { ...run, fullIterations: full };
              options.onDone?.(++done, tasks.length, out, result);
              return result;
            } catch (e) {
              if (!(e instanceof UserError)) throw e;
              const failure = { out, message: e.message };
              options.onDone?.(++done, tasks.length, out, failure);
              return failure;
            }
          },
        });
      }
    }
  });
  const results = await pool(tasks.map((t) => t.run), options.jobs);
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
export function markdownTable(table: Table, errors: Map<string, number[]>, columns?: number[]) {
  const cols = columns ?? table.columns.map((_, c) => c);
  const head = cols.flatMap((c) => [`${table.columns[c].label}: ours`, "paper"]);
  const lines = [`| model | ${head.join(" | ")} |`, `|---|${head.map(() => "---|").join("")}`];
  table.rows.forEach((row, r) => {
    const cells = cols.flatMap((c) => {
      const xs = errors.get(`${r}|${c}`);
      if (!xs?.length) return ["-", row.paper[c]];
      const [m, s] = meanStd(xs);
      return [`${m.toFixed(2)} ± ${s.toFixed(2)}`, row.paper[c]];
    });
    lines.push(`| ${row.label} | ${cells.join(" | ")} |`);
  });
  return lines.join("\n");
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
    help: "runs at a time (default: one per core for two circles, else 1)",
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
};

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
  const seeds = (v.seeds as number | undefined) ?? table.seeds;
  const allCircles = table.columns.every((c) => c.dataset === "circles");
  const jobs = (v.jobs as number | undefined) ??
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
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
  const { runs, failures } = await runTable(reg, table, {
    seeds,
    jobs,
    out,
    columns,
    iterationsScale: scale,
    extra,
    ...(v.dataDir !== undefined ? { dataDir: v.dataDir as string } : {}),
    overwrite: v.overwrite as boolean,
    trainScript,
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
    markdownTable(table, errors, columns)
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
