/**
 * `deno task reproduce circles`: the paper's two-circles table. Every model
 * of the table at both noise levels over several seeds, run as parallel
 * single-threaded `train` processes; prints a markdown table of mean +- std
 * beside the paper's numbers and draws one decision boundary per model and
 * data set (seed 1).
 * @module
 */
import { parseArgs } from "node:util";
import { BuildError } from "../../build.ts";
import { createCpuBackend } from "../backend/cpu.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { grid } from "../report/boundary.ts";
import { writePng } from "../report/png.ts";
import { UserError } from "../util/errors.ts";
import { checkPartial, type Config, configFileValues, defaults } from "./config.ts";
import { circlesPanel, setup } from "./experiment.ts";
import { readJson, writeJsonAtomic } from "./run.ts";

/** One row of the table: a label, the train flags, and the paper's numbers per noise level. */
export interface Row {
  label: string;
  args: string[];
  paper: Record<string, string>;
}

/** The paper's rows, plus the references we add (supervised only, the literal reading). */
export const CIRCLES_ROWS: Row[] = [
  {
    label: "supervised (8 labels)",
    args: ["--preset", "circles-supervised"],
    paper: { "0.01": "-", "0.06": "-" },
  },
  {
    label: "VAT eps=0.1",
    args: ["--preset", "circles-vat", "--eps", "0.1"],
    paper: { "0.01": "0.00 ± 0.00", "0.06": "24.61 ± 4.58" },
  },
  {
    label: "VAT eps=1.0",
    args: ["--preset", "circles-vat", "--eps", "1.0"],
    paper: { "0.01": "4.59 ± 5.64", "0.06": "5.10 ± 4.28" },
  },
  {
    label: "ours lambda=1.0, literal",
    args: ["--preset", "circles-advgen-literal"],
    paper: { "0.01": "0.00 ± 0.00", "0.06": "4.75 ± 5.31" },
  },
  {
    label: "ours, our settings",
    args: ["--preset", "circles-advgen"],
    paper: { "0.01": "0.00 ± 0.00", "0.06": "4.75 ± 5.31" },
  },
];

export const NOISES = ["0.01", "0.06"];

/** Runs `train` with `args` in a subprocess; returns the test error from the run's summary. */
async function runOne(args: string[], out: string): Promise<number> {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      main,
      ...args,
      "--out",
      out,
      "--threads",
      "1",
      "--no-figure",
      "--log-interval",
      "100000",
      "--eval-interval",
      "100000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`Cannot finish the run in ${out}:\n${new TextDecoder().decode(r.stderr)}`);
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

/** Runs every row x noise x seed; returns the errors, keyed "row|noise", in seed order. */
export async function runTable(
  rows: Row[],
  seeds: number,
  jobs: number,
  outDir: string,
  extra: string[] = [],
  onDone?: (done: number, total: number) => void,
): Promise<Map<string, number[]>> {
  const tasks: { key: string; seed: number; run: () => Promise<number> }[] = [];
  let done = 0;
  rows.forEach((row, r) => {
    for (const noise of NOISES) {
      for (let seed = 1; seed <= seeds; seed++) {
        const out = `${outDir}/${r}-${noise}-${seed}`;
        tasks.push({
          key: `${r}|${noise}`,
          seed,
          run: async () => {
            try {
              await Deno.remove(out, { recursive: true });
            } catch { /* a new folder */ }
            const e = await runOne([
              ...row.args,
              "--noise",
              noise,
              "--seed",
              String(seed),
              "--data-seed",
              String(seed),
              ...extra,
            ], out);
            onDone?.(++done, tasks.length);
            return e;
          },
        });
      }
    }
  });
  const errors = await pool(tasks.map((t) => t.run), jobs);
  const byKey = new Map<string, number[]>();
  tasks.forEach((t, i) => byKey.set(t.key, [...(byKey.get(t.key) ?? []), errors[i]]));
  return byKey;
}

/** The markdown table of a finished runTable. */
export function markdownTable(rows: Row[], errors: Map<string, number[]>): string {
  const lines = [
    "| model | noise 0.01: ours | paper | noise 0.06: ours | paper |",
    "|---|---|---|---|---|",
  ];
  rows.forEach((row, r) => {
    const cells = NOISES.flatMap((n) => {
      const [m, s] = meanStd(errors.get(`${r}|${n}`) ?? []);
      return [`${m.toFixed(2)} ± ${s.toFixed(2)}`, row.paper[n]];
    });
    lines.push(`| ${row.label} | ${cells.join(" | ")} |`);
  });
  return lines.join("\n");
}

/** One panel per row and noise level, from the seed-1 runs. */
async function figure(rows: Row[], errors: Map<string, number[]>, outDir: string): Promise<string> {
  const be = await createCpuBackend("f32");
  const panels = [];
  for (const noise of NOISES) {
    for (let r = 0; r < rows.length; r++) {
      const dir = `${outDir}/${r}-${noise}-1`;
      const cfg: Config = {
        ...defaults(),
        ...checkPartial(configFileValues(await readJson(`${dir}/config.json`), dir), dir),
      };
      const exp = await setup(be, cfg);
      await loadCheckpoint(`${dir}/checkpoint.bin`, {
        modules: exp.method.modules,
        optimizers: {},
        rngs: {},
      }, be);
      const err = errors.get(`${r}|${noise}`)![0];
      const label = rows[r].label.replace(/ \(.*\)|, our settings/, "").replace("lambda", "L");
      panels.push(circlesPanel(be, exp, cfg, 240, `${label} N=${noise} ${err.toFixed(1)}%`));
    }
  }
  const fig = grid(panels, rows.length);
  const path = `${outDir}/circles.png`;
  await writePng(path, fig.rgb, fig.width, fig.height);
  return path;
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      seeds: { type: "string", default: "10" },
      jobs: { type: "string", default: String(navigator.hardwareConcurrency ?? 2) },
      out: { type: "string", default: "runs/reproduce-circles" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || positionals[0] !== "circles") {
    if (!values.help) {
      throw new UserError(
        `Cannot reproduce '${positionals[0] ?? ""}': the experiments are: circles`,
      );
    }
    console.log(
      "usage: deno task reproduce circles [--seeds 10] [--jobs N] [--out runs/reproduce-circles]",
    );
    return;
  }
  const seeds = Number(values.seeds), jobs = Number(values.jobs);
  if (!Number.isInteger(seeds) || seeds < 1) {
    throw new UserError(`Cannot use --seeds ${values.seeds}: expected an integer >= 1`);
  }
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UserError(`Cannot use --jobs ${values.jobs}: expected an integer >= 1`);
  }
  const t0 = performance.now();
  const errors = await runTable(CIRCLES_ROWS, seeds, jobs, values.out, [], (d, n) => {
    if (d % 10 === 0 || d === n) {
      console.log(`${d}/${n} runs (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
  });
  const table = markdownTable(CIRCLES_ROWS, errors);
  await Deno.writeTextFile(`${values.out}/table.md`, table + "\n");
  await writeJsonAtomic(`${values.out}/errors.json`, Object.fromEntries(errors));
  const png = await figure(CIRCLES_ROWS, errors, values.out);
  console.log(
    `\nTwo circles, test error % (mean ± std over ${seeds} seeds; ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s)\n`,
  );
  console.log(table);
  console.log(`\nfigure: ${png}\ntable: ${values.out}/table.md`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (e instanceof UserError || e instanceof BuildError) {
      console.error(`error: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
