/**
 * The HTML report of one or more runs: one self-contained page (no network,
 * no external file: charts are inline SVG, figures PNG data URIs, no
 * script) with the runs' curves overlaid, then each run's summary,
 * configuration and figures in a section of its own. A `reproduce` table
 * can head it, each cell linking to its runs' sections.
 * @module
 */
import { curveStats, pointsOf } from "./curve.ts";
import { COLOURS, escapeHtml, lineChart, type Series } from "./svg.ts";

/** What the report shows of one run (read from its folder by src/cli/report.ts). */
export interface RunReport {
  /** The anchor of the run's section. */
  id: string;
  /** The run's name in legends and headings (its folder). */
  name: string;
  config: Record<string, unknown>;
  /** summary.json, or null for a run that has not finished. */
  summary: Record<string, unknown> | null;
  /** metrics.jsonl's records. */
  metrics: Record<string, unknown>[];
  /** The run's PNG figures by file name. */
  figures: { name: string; png: Uint8Array }[];
}

/** A table that heads the page: its header row and rows of HTML cells (already escaped). */
export interface ReportTable {
  caption: string;
  header: string[];
  rows: string[][];
  /** The table's own figures (reproduce's PNG beside table.md). */
  figures: { name: string; png: Uint8Array }[];
}

/** What each figure of a run folder shows. */
const FIGURE_TITLES: Record<string, string> = {
  "test_error.png": "test error during training",
  "boundary.png": "decision boundary",
  "confusion.png": "confusion matrix (rows: true class)",
  "adversarial.png": "x, G(x, z) and VAT's x + r_vadv",
};

/** G's diagnostics that get a chart of their own, with their units. */
const DIAGNOSTICS: Record<string, string> = {
  g_flip: "fraction of labels G's step flips",
  g_kl: "KL(C(x) || C(G(x, z)))",
  g_l2: "L2 norm of G's step",
};

/** Fields of a metrics line that are not losses. */
const NOT_LOSSES = new Set(["iteration", "time", "rate"]);

/**
 * The series of `key` over the runs' records that have it (one per run),
 * each in its run's colour on every chart; `dashed` tells a second field of
 * the same run apart.
 */
function seriesOf(
  runs: RunReport[],
  key: string,
  suffix = "",
  dashed = false,
): Series[] {
  return runs.map((r, i) => ({
    name: `${r.name}${suffix}`,
    metric: key,
    colour: COLOURS[i % COLOURS.length],
    dashed,
    points: r.metrics
      .filter((m) => typeof m[key] === "number")
      .map((m) => [m.iteration as number, m[key] as number] as [number, number]),
  })).filter((s) => s.points.length > 0);
}

/** Base64 of bytes (for data URIs). */
function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** A two-column table of a record's entries. */
function keyValues(record: Record<string, unknown>): string {
  const rows = Object.entries(record).map(([k, v]) =>
    `<tr><th>${escapeHtml(k)}</th><td>${
      escapeHtml(typeof v === "string" ? v : JSON.stringify(v))
    }</td></tr>`
  );
  return `<table class="kv">${rows.join("")}</table>`;
}

/** The charts every report has: test error, each loss, learning rates, G's diagnostics. */
function charts(runs: RunReport[]): string[] {
  const out: string[] = [];
  const testError = [
    ...seriesOf(runs, "test_error"),
    ...seriesOf(runs, "c_test_error", " (raw C, without the average)", true),
  ];
  if (testError.length) {
    out.push(lineChart({
      title: "test error",
      xLabel: "iteration",
      yLabel: "test error (%)",
      series: testError,
      // Log-scaled: the first evaluations (tens of %) would flatten the differences that matter.
      logY: true,
    }));
  }
  const lossKeys = [
    ...new Set(
      runs.flatMap((r) =>
        r.metrics.filter((m) => m.test_error === undefined).flatMap((m) => Object.keys(m))
      ),
    ),
  ].filter((k) => !NOT_LOSSES.has(k) && !k.startsWith("lr_"));
  for (const key of lossKeys) {
    out.push(lineChart({
      title: `${key} (mean over each logging interval)`,
      xLabel: "iteration",
      yLabel: key,
      series: seriesOf(runs, key),
      logY: true,
    }));
  }
  const lrKeys = [
    ...new Set(runs.flatMap((r) => r.metrics.flatMap((m) => Object.keys(m)))),
  ].filter((k) => k.startsWith("lr_"));
  if (lrKeys.length) {
    out.push(lineChart({
      title: "learning rates",
      xLabel: "iteration",
      yLabel: "learning rate",
      series: lrKeys.flatMap((k, j) => seriesOf(runs, k, ` ${k.slice(3)}`, j > 0)),
    }));
  }
  for (const [key, label] of Object.entries(DIAGNOSTICS)) {
    const s = seriesOf(runs, key);
    if (s.length) {
      out.push(lineChart({
        title: `G's diagnostic ${key}`,
        xLabel: "iteration",
        yLabel: label,
        series: s,
      }));
    }
  }
  return out;
}

/** PNG figures inline, as data URIs, each with its caption. */
function figureList(figures: { name: string; png: Uint8Array }[]): string {
  return `<div class="figures">${
    figures.map((f) =>
      `<figure><img class="figure" alt="${escapeHtml(f.name)}" src="data:image/png;base64,${
        base64(f.png)
      }"><figcaption>${escapeHtml(FIGURE_TITLES[f.name] ?? f.name)}</figcaption></figure>`
    ).join("\n")
  }</div>`;
}

/** A curve's final and best test errors and its largest rise after step 3000, in one line. */
function curveLine(r: RunReport): string {
  const s = curveStats(pointsOf(r.metrics, "test_error"));
  if (!s) return "";
  const at = ([step, err]: [number, number]) => `${err.toFixed(2)} % at step ${step}`;
  return `<p class="curve">test error: final ${at(s.final)}, best ${
    at(s.best)
  }, largest rise after step 3000 ${
    s.riseAt ? `${s.rise.toFixed(2)} points at step ${s.riseAt}` : "none"
  }</p>`;
}

/** The section of one run: its curve in numbers, summary, configuration, figures. */
function runSection(r: RunReport): string {
  return `<section class="run" id="${escapeHtml(r.id)}">
<h2>${escapeHtml(r.name)}</h2>
${curveLine(r)}
${r.summary ? keyValues(r.summary) : "<p>Not finished: no summary.json yet.</p>"}
<details><summary>configuration</summary>${keyValues(r.config)}</details>
${figureList(r.figures)}
</section>`;
}

/** The whole page. */
export function reportPage(runs: RunReport[], title: string, table?: ReportTable): string {
  const head = table
    ? `<table class="results"><caption>${escapeHtml(table.caption)}</caption><tr>${
      table.header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")
    }</tr>${
      table.rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")
    }</table>${figureList(table.figures)}`
    : "";
  const toc = runs.map((r) => `<li><a href="#${escapeHtml(r.id)}">${escapeHtml(r.name)}</a></li>`);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #333; }
svg.chart text.title { font-size: 13px; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
table.kv th { font-weight: normal; color: #555; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } img.figure { max-width: 560px; border: 1px solid #ddd; }
section.run { border-top: 2px solid #888; margin-top: 24px; }
</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
${head}
<ul class="toc">${toc.join("")}</ul>
<div class="charts">${charts(runs).join("\n")}</div>
${runs.map(runSection).join("\n")}
</body></html>
`;
}
