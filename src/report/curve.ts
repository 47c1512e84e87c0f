/**
 * A run's test-error curve in numbers: its final and best errors and its
 * largest rise (issue 20's stability measure: how far an evaluation after a
 * given step lies above the best one before it), and the curves of several
 * runs as one markdown table (what docs/mnist.md's tables are made from, so
 * that no number in them is copied by hand).
 * @module
 */
import { markdownTable } from "../util/format.ts";

/** One evaluation: the step and the test error (%) there. */
export type Point = [step: number, error: number];

/** What a curve says about a run's stability. */
export interface CurveStats {
  final: Point;
  best: Point;
  /** The largest `error(s) - min over t < s of error(t)` over the evaluations s after `after`. */
  rise: number;
  /** Where that rise is (the evaluation that lies furthest above the best before it). */
  riseAt: number;
}

/** The points of `key` (test_error, c_test_error, g_flip...) in a run's metrics records. */
export function pointsOf(metrics: Record<string, unknown>[], key: string): Point[] {
  return metrics
    .filter((m) => typeof m[key] === "number" && typeof m.iteration === "number")
    .map((m) => [m.iteration as number, m[key] as number]);
}

/**
 * The final, best and largest rise after step `after` of a curve, or null
 * for one with no point. A curve without an evaluation after `after` has
 * rise 0.
 */
export function curveStats(points: Point[], after = 3000): CurveStats | null {
  if (!points.length) return null;
  let best = points[0];
  let bestBefore = Infinity;
  let rise = 0;
  let riseAt = 0;
  for (const p of points) {
    if (p[0] > after && p[1] - bestBefore > rise) [rise, riseAt] = [p[1] - bestBefore, p[0]];
    bestBefore = Math.min(bestBefore, p[1]);
    if (p[1] < best[1]) best = p;
  }
  return { final: points[points.length - 1], best, rise, riseAt };
}

/** A number with `digits` decimals, or "" for none. */
function fixed(v: number | undefined, digits: number): string {
  return v === undefined ? "" : v.toFixed(digits);
}

/** G's diagnostics that the curve table shows beside a single run's error, with their decimals. */
const DIAGNOSTIC_COLUMNS: [key: string, digits: number][] = [
  ["g_flip", 3],
  ["g_kl", 3],
  ["g_l2", 2],
  ["g_linf", 3],
  ["g_pair_cos", 3],
  ["g_vat_cos", 3],
  ["g_vat_kl", 3],
];

/**
 * The runs' numbers as markdown: one row per run (final, best, largest rise
 * after `after`, of C's test error and, where the run averages C, of the raw
 * C's), then the curve at every evaluation, one column per run; a single
 * run's curve also gets G's diagnostics at each evaluation.
 */
export function curveMarkdown(
  runs: { name: string; metrics: Record<string, unknown>[] }[],
  after = 3000,
): string {
  const statRows = runs.flatMap((r) =>
    (["test_error", "c_test_error"] as const).flatMap((key) => {
      const s = curveStats(pointsOf(r.metrics, key), after);
      if (!s) return [];
      return [[
        key === "test_error" ? r.name : `${r.name} (raw C)`,
        `${s.final[1].toFixed(2)} @ ${s.final[0]}`,
        `${s.best[1].toFixed(2)} @ ${s.best[0]}`,
        s.riseAt ? `${s.rise.toFixed(2)} @ ${s.riseAt}` : "0",
      ]];
    })
  );
  const summary = markdownTable(
    ["run", "final (%) @ step", "best (%) @ step", `largest rise after step ${after}`],
    statRows,
  );
  const curves = runs.map((r) => new Map(pointsOf(r.metrics, "test_error")));
  const steps = [...new Set(curves.flatMap((c) => [...c.keys()]))].sort((a, b) => a - b);
  const diagnostics = runs.length === 1
    ? DIAGNOSTIC_COLUMNS.filter(([k]) => pointsOf(runs[0].metrics, k).length)
    : [];
  const diagnosticAt = diagnostics.map(([k]) => new Map(pointsOf(runs[0].metrics, k)));
  const curve = markdownTable(
    ["step", ...runs.map((r) => r.name), ...diagnostics.map(([k]) => k)],
    steps.map((s) => [
      String(s),
      ...curves.map((c) => fixed(c.get(s), 2)),
      ...diagnostics.map(([, d], j) => fixed(diagnosticAt[j].get(s), d)),
    ]),
  );
  return `${summary}\n\n${curve}\n`;
}
