/**
 * `deno task reproduce NAME`: one of the paper's tables, as the registry's
 * data sets declare them. Every row x column x seed is a `train` run in a
 * subprocess (single-threaded, several at a time); prints a markdown table of
 * mean ± sample std beside the paper's numbers and, where the data set draws
 * figures, one panel per row and column (seed 1).
 * @module
 */
import { createCpuBackend } from "../backend/cpu.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { BUILTIN, type Registry } from "../registry/mod.ts";
import type { Table } from "../registry/registry.ts";
import { setup } from "../registry/setup.ts";
import { grid } from "../report/boundary.ts";
import { writePng } from "../report/png.ts";
import { UserError } from "../util/errors.ts";
import { writeAtomic } from "../util/fs.ts";
import type { OptionSpec } from "../util/options.ts";
import { helpText, parseFlags, runMain } from "./args.ts";
import { readJson, savedConfig, writeJsonAtomic } from "./run.ts";

/** Every table of a registry by name, with its data set. */
export function tables(reg: Registry): Map<string, { table: Table; dataset: string }> {
  const out = new Map<string, { table: Table; dataset: string }>();
  for (const [dataset, entry] of Object.entries(reg.datasets)) {
    for (const [name, table] of Object.entries(entry.tables ?? {})) {
      out.set(name, { table, dataset });
    }
  }
  return out;
}

/** Runs `train` with `args` in a subprocess; returns the test error from the run's summary. */
async function runOne(args: string[], out: string): Promise<number> {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args, "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? "";
    throw new UserError(`Cannot finish the run in ${out} (exit ${r.code}): ${err}`);
  }
  return ((await readJson(`${out}/summary.json`)) as { test_error: number }).test_error;
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

function meanStd(xs: number[]): [number, number] {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

/** The flags every table run adds: one thread, no figure, no logging or evaluation on the way. */
function quietArgs(reg: Registry, dataset: string): string[] {
  return [
    "--threads",
    "1",
    ...(reg.datasets[dataset].figure ? ["--no-figure"] : []),
    "--log-interval",
    "1000000000",
    "--eval-interval",
    "1000000000",
  ];
}

/** Runs every row x column x seed; returns the errors, keyed "row|column", in seed order. */
export async function runTable(
  reg: Registry,
  table: Table,
  dataset: string,
  seeds: number,
  jobs: number,
  outDir: string,
  onDone?: (done: number, total: number) => void,
): Promise<Map<string, number[]>> {
  const tasks: { key: string; run: () => Promise<number> }[] = [];
  let done = 0;
  table.rows.forEach((row, r) => {
    table.columns.forEach((column, c) => {
      for (let seed = 1; seed <= seeds; seed++) {
        const out = `${outDir}/${r}-${c}-${seed}`;
        tasks.push({
          key: `${r}|${c}`,
          run: async () => {
            // --overwrite starts over in a run folder of the tool's, and refuses any other.
            const e = await runOne([
              "--overwrite",
              ...row.args,
              ...column.args,
              "--seed",
              String(seed),
              "--data-seed",
              String(seed),
              ...quietArgs(reg, dataset),
            ], out);
            onDone?.(++done, tasks.length);
            return e;
          },
        });
      }
    });
  });
  const errors = await pool(tasks.map((t) => t.run), jobs);
  const byKey = new Map<string, number[]>();
  tasks.forEach((t, i) => byKey.set(t.key, [...(byKey.get(t.key) ?? []), errors[i]]));
  return byKey;
}

/** The markdown table of a finished runTable. */
export function markdownTable(table: Table, errors: Map<string, number[]>): string {
  const head = table.columns.flatMap((c) => [`${c.label}: ours`, "paper"]);
  const lines = [`| model | ${head.join(" | ")} |`, `|---|${head.map(() => "---|").join("")}`];
  table.rows.forEach((row, r) => {
    const cells = table.columns.flatMap((_, c) => {
      const [m, s] = meanStd(errors.get(`${r}|${c}`) ?? []);
      return [`${m.toFixed(2)} ± ${s.toFixed(2)}`, row.paper[c]];
    });
    lines.push(`| ${row.label} | ${cells.join(" | ")} |`);
  });
  return lines.join("\n");
}

/** One panel per row and column, from the seed-1 runs. */
async function figure(
  reg: Registry,
  table: Table,
  dataset: string,
  errors: Map<string, number[]>,
  outDir: string,
): Promise<string | null> {
  const entry = reg.datasets[dataset];
  if (!entry.figure) return null;
  const be = await createCpuBackend("f32");
  const panels = [];
  for (let c = 0; c < table.columns.length; c++) {
    for (let r = 0; r < table.rows.length; r++) {
      const dir = `${outDir}/${r}-${c}-1`;
      const cfg = await savedConfig(reg, `${dir}/config.json`);
      const exp = await setup(be, reg, cfg);
      await loadCheckpoint(`${dir}/checkpoint.bin`, {
        modules: exp.method.modules,
        optimizers: {},
        rngs: {},
      }, be);
      const err = errors.get(`${r}|${c}`)![0];
      const label = table.rows[r].label.replace(/ \(.*\)|, our settings/, "").replace(
        "lambda",
        "L",
      );
      const column = table.columns[c].label.replace("noise ", "N=");
      panels.push(entry.figure(be, exp, cfg, 240, `${label} ${column} ${err.toFixed(1)}%`));
    }
  }
  const fig = grid(panels, table.rows.length);
  const path = `${outDir}/${dataset}.png`;
  await writePng(path, fig.rgb, fig.width, fig.height);
  return path;
}

const OPTIONS: Record<string, OptionSpec> = {
  seeds: { kind: "int", min: 1, max: 1000, help: "seeds per cell (default: the table's)" },
  jobs: {
    kind: "int",
    min: 1,
    max: 1024,
    default: navigator.hardwareConcurrency ?? 2,
    help: "runs at a time",
  },
  out: {
    kind: "string",
    metavar: "DIR",
    help: "folder of the runs and the table (default runs/reproduce-<name>)",
  },
};

async function main(args: string[], reg: Registry = BUILTIN): Promise<void> {
  const known = tables(reg);
  const names = [...known.keys()].join(", ");
  const parsed = parseFlags(args, OPTIONS, { min: 0, max: 1, what: `a table name (${names})` });
  if (parsed.help) {
    console.log(helpText(
      "deno task reproduce NAME [flags]",
      `Runs one of the paper's tables over several seeds. Tables: ${names}.`,
      OPTIONS,
    ));
    return;
  }
  const name = parsed.positionals[0];
  const found = name === undefined ? undefined : known.get(name);
  if (!found) {
    throw new UserError(`Cannot reproduce '${name ?? ""}': the tables are: ${names}`);
  }
  const { table, dataset } = found;
  const seeds = (parsed.values.seeds as number | undefined) ?? table.seeds;
  const jobs = parsed.values.jobs as number;
  const out = (parsed.values.out as string | undefined) ?? `runs/reproduce-${name}`;
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
  const errors = await runTable(reg, table, dataset, seeds, jobs, out, (d, n) => {
    if (d % 10 === 0 || d === n) console.log(`${d}/${n} runs (${secs()} s)`);
  });
  const markdown = markdownTable(table, errors);
  await writeAtomic(`${out}/table.md`, new TextEncoder().encode(markdown + "\n"));
  await writeJsonAtomic(`${out}/errors.json`, Object.fromEntries(errors));
  const png = await figure(reg, table, dataset, errors, out);
  console.log(`\n${table.title} (mean ± std over ${seeds} seeds; ${secs()} s)\n`);
  console.log(markdown);
  console.log(`${png ? `\nfigure: ${png}` : ""}\ntable: ${out}/table.md`);
}

if (import.meta.main) await runMain((args) => main(args));
