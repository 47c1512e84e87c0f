/**
 * Line charts as inline SVG for the HTML report: axes with ticks and units,
 * one polyline per series (each with `data-points`, its number of points,
 * for the browser test), and a legend.
 * @module
 */

/** One curve: a name for the legend and its (x, y) points. */
export interface Series {
  name: string;
  points: [number, number][];
  /** The metrics field it plots, kept as `data-metric` for the browser test. */
  metric?: string;
  /** Its colour (default: by its place in the chart) and whether it is drawn dashed. */
  colour?: string;
  dashed?: boolean;
}

/** What a chart shows. */
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** A log-scaled y axis (for losses that fall by decades), where every y is positive. */
  logY?: boolean;
}

/** The colours of successive series (colour-blind-safe, Okabe and Ito). */
export const COLOURS = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#e69f00",
  "#56b4e9",
  "#000000",
];

/** Characters that must not appear raw in HTML or SVG text. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** About `count` round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

/** A tick's label: as many decimals as the tick step needs, without float noise. */
function tickLabel(v: number, step: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(1).replace(".0e", "e");
  const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
  return String(Number(v.toFixed(decimals)));
}

/** Log-axis ticks over [lo, hi] (in log10 units): decades, and 2 and 5 between them when the span is short. */
function logTicks(lo: number, hi: number): number[] {
  const mantissas = hi - lo < 2.5 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of mantissas) {
      const v = m * 10 ** e;
      if (Math.log10(v) >= lo && Math.log10(v) <= hi) out.push(Number(v.toPrecision(6)));
    }
  }
  return out;
}

/** The chart as an `<svg>` element; its legend lies below the plot, one row per series. */
export function lineChart(chart: Chart, width = 560, plotHeight = 300): string {
  const kept = chart.series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  }));
  // A log axis only where every value has a logarithm: no point is ever left out.
  const logY = chart.logY === true && kept.every((s) => s.points.every(([, y]) => y > 0));
  const fy = logY ? (y: number) => Math.log10(y) : (y: number) => y;
  const m = { left: 64, right: 16, top: 28, bottom: 44 + 16 * kept.length };
  const height = plotHeight + 16 * kept.length;
  const [w, h] = [width - m.left - m.right, height - m.top - m.bottom];
  const all = kept.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]), ys = all.map((p) => fy(p[1]));
  const x0 = Math.min(...xs, 0);
  let x1 = Math.max(...xs, 1);
  let [y0, y1] = all.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  const allPositive = Math.min(...ys) >= 0;
  [y0, y1] = [y0 - pad, y1 + pad];
  if (!logY && y0 < 0 && allPositive) y0 = 0;
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * w;
  const py = (y: number) => m.top + h - ((fy(y) - y0) / (y1 - y0)) * h;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
      escapeHtml(chart.title)
    }">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" class="title">${
      escapeHtml(chart.title)
    }</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
  );
  const xTicks = ticks(x0, x1);
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.top + h}" x2="${x}" y2="${m.top + h + 4}" stroke="#888"/>`,
      `<text x="${x}" y="${m.top + h + 16}" text-anchor="middle">${tickLabel(t, xStep)}</text>`,
    );
  }
  const yTicks = logY ? logTicks(y0, y1) : ticks(y0, y1);
  const yStep = logY ? 0 : yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    parts.push(
      `<line x1="${m.left - 4}" y1="${y}" x2="${m.left + w}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${m.left - 6}" y="${Number(y) + 4}" text-anchor="end">${
        tickLabel(t, logY ? t : yStep)
      }</text>`,
    );
  }
  parts.push(
    `<text x="${m.left + w / 2}" y="${m.top + h + 34}" text-anchor="middle">${
      escapeHtml(chart.xLabel)
    }</text>`,
    `<text transform="translate(14 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${
      escapeHtml(chart.yLabel + (logY ? " (log scale)" : ""))
    }</text>`,
  );
  kept.forEach((s, i) => {
    const colour = s.colour ?? COLOURS[i % COLOURS.length];
    const dash = s.dashed ? ` stroke-dasharray="5 3"` : "";
    const d = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline class="series" data-series="${escapeHtml(s.name)}" data-metric="${
        escapeHtml(s.metric ?? "")
      }" data-points="${s.points.length}" points="${d}" fill="none" stroke="${colour}" stroke-width="1.5"${dash}/>`,
    );
    const ly = m.top + h + 52 + 16 * i;
    parts.push(
      `<line x1="${m.left}" y1="${ly - 4}" x2="${m.left + 20}" y2="${
        ly - 4
      }" stroke="${colour}" stroke-width="2"${dash}/>`,
      `<text x="${m.left + 26}" y="${ly}" class="legend">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
