/**
 * `deno task report RUN... [--out FILE]`: one self-contained HTML page of
 * runs (src/report/page.ts): their curves overlaid, each run's summary,
 * configuration and figures. A `reproduce` folder (with table.md and
 * runs.json) gives its table beside the paper's numbers, each cell linking
 * to its seeds' runs. The page goes to RUN/report.html for one run or one
 * table folder, else to --out. Every run writes its own at its end, and
 * `reproduce` one for its table. With --markdown it prints the runs' numbers
 * and curves as markdown tables instead (src/report/curve.ts).
 * @module
 */
import { basename, resolve } from "node:path";
import { curveMarkdown } from "../report/curve.ts";
import { reportPage, type ReportTable, type RunReport } from "../report/page.ts";
import { escapeHtml } from "../report/svg.ts";
import { UserError } from "../util/errors.ts";
import { exists, writeAtomic } from "../util/fs.ts";
import type { OptionSpec } from "../util/options.ts";
import { helpText, parseFlags, runMain } from "./args.ts";
import { readJson, readMetrics, RUN_FILES } from "./run.ts";

const OPTIONS: Record<string, OptionSpec> = {
  out: {
    kind: "string",
    metavar: "FILE",
    help: "where to write the page (default: RUN/report.html for one run or table folder)",
  },
  markdown: {
    kind: "bool",
    help:
      "print the runs' final, best and largest rise after step 3000 and their curves as markdown tables instead",
  },
};

/** Whether `dir` is a `reproduce` folder (its table and its runs' index). */
function isTableFolder(dir: string): boolean {
  return exists(`${dir}/table.md`) && exists(`${dir}/runs.json`);
}

/** What the report shows of the run in `dir`; `name` names it in legends. */
export async function loadRun(
  dir: string,
  name = dir,
  id = `run-${basename(dir)}`,
): Promise<RunReport> {
  if (!exists(`${dir}/config.json`)) {
    throw new UserError(`Cannot report on ${dir}: it holds no run (no config.json)`);
  }
  const config = await readJson(`${dir}/config.json`) as Record<string, unknown>;
  const summary = exists(`${dir}/summary.json`)
    ? await readJson(`${dir}/summary.json`) as Record<string, unknown>
    : null;
  const figures = RUN_FILES.filter((f) => f.endsWith(".png") && exists(`${dir}/${f}`))
    .map((f) => ({ name: f, png: Deno.readFileSync(`${dir}/${f}`) }));
  return { id, name, config, summary, metrics: readMetrics(`${dir}/metrics.jsonl`), figures };
}

/**
 * A reproduce folder's table (table.md, beside the paper's numbers) with each
 * of our cells linked to its seeds' run sections, and those runs (named
 * <row>-<column>-<seed>, as reproduce names them).
 */
async function loadTable(dir: string): Promise<{ table: ReportTable; runs: RunReport[] }> {
  const markdown = Deno.readTextFileSync(`${dir}/table.md`).split("\n");
  const lines = markdown.filter((l) => l.startsWith("|"));
  const cells = (l: string) => l.split("|").slice(1, -1).map((c) => c.trim());
  const header = cells(lines[0]);
  const index = await readJson(`${dir}/runs.json`) as Record<string, unknown>;
  // The table's "ours" columns are the columns run, in order.
  const columns = [...new Set(Object.keys(index).map((k) => Number(k.split("|")[1])))]
    .sort((a, b) => a - b);
  const names: string[] = [];
  const rows = lines.slice(2).map((line, r) =>
    cells(line).map((cell, j) => {
      if (j === 0 || j % 2 === 0) return escapeHtml(cell); // the row's label, the paper's numbers
      const c = columns[(j - 1) / 2];
      const seeds = [...Deno.readDirSync(dir)]
        .map((e) => e.name)
        .filter((n) => new RegExp(`^${r}-${c}-\\d+$`).test(n) && exists(`${dir}/${n}/config.json`))
        .sort((a, b) => Number(a.split("-")[2]) - Number(b.split("-")[2]));
      const links = seeds.map((n) => `<a href="#run-${n}">${n.split("-")[2]}</a>`);
      names.push(...seeds);
      return `${escapeHtml(cell)}${
        links.length ? ` <small>(seeds ${links.join(", ")})</small>` : ""
      }`;
    })
  );
  const runs = await Promise.all(names.map((n) => loadRun(`${dir}/${n}`, n, `run-${n}`)));
  const figures = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".png"))
    .map((e) => e.name).sort().map((name) => ({ name, png: Deno.readFileSync(`${dir}/${name}`) }));
  return { table: { caption: markdown[0], header, rows, figures }, runs };
}

/** The runs' names in legends: their folders' names where those differ, else the paths. */
function legendNames(paths: string[]): string[] {
  const names = paths.map((p) => basename(resolve(p)));
  return new Set(names).size === names.length ? names : paths;
}

/** Writes the report of `paths` (run folders, or one table folder) to `out`; returns its path. */
export async function writeReport(paths: string[], out?: string): Promise<string> {
  if (!paths.length) throw new UserError("Cannot write a report: name at least one run folder");
  const table = paths.length === 1 && isTableFolder(paths[0])
    ? await loadTable(paths[0])
    : undefined;
  if (!table) {
    const folder = paths.find(isTableFolder);
    if (folder) {
      throw new UserError(
        `Cannot report on ${folder} beside other runs: a reproduce folder gets a report of its own`,
      );
    }
  }
  const target = out ?? (paths.length === 1 ? `${paths[0]}/report.html` : undefined);
  if (!target) {
    throw new UserError(
      `Cannot write the report of ${paths.length} runs: give the page's --out FILE`,
    );
  }
  const runs = table?.runs ??
    await Promise.all(paths.map((p, i) => loadRun(p, legendNames(paths)[i], `run-${i + 1}`)));
  const title = table ? `advssl: ${basename(resolve(paths[0]))}` : `advssl: ${paths.join(", ")}`;
  const html = reportPage(runs, title, table?.table);
  await writeAtomic(target, new TextEncoder().encode(html));
  return target;
}

if (import.meta.main) {
  await runMain(async (args) => {
    const parsed = parseFlags(args, OPTIONS, { min: 0, max: 1000, what: "run folders" });
    if (parsed.help) {
      console.log(helpText(
        "deno task report RUN... [--out FILE | --markdown]",
        "Writes one self-contained HTML page of runs: curves overlaid, summaries, configurations and figures; of a reproduce folder, its table.",
        OPTIONS,
      ));
      return;
    }
    if (parsed.values.markdown) {
      if (parsed.values.out !== undefined) {
        throw new UserError(
          "Cannot use --out with --markdown: the tables go to the standard output",
        );
      }
      if (!parsed.positionals.length) {
        throw new UserError("Cannot print curves: name at least one run folder");
      }
      const names = legendNames(parsed.positionals);
      const runs = await Promise.all(parsed.positionals.map((p, i) => loadRun(p, names[i])));
      console.log(curveMarkdown(runs));
      return;
    }
    const path = await writeReport(parsed.positionals, parsed.values.out as string | undefined);
    console.log(`report: ${path}`);
  });
}
