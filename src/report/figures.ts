/**
 * The figures of a trained run: the confusion matrix as a heat map, the
 * test-error curve, and grids of images (originals beside adversarial
 * examples).
 * @module
 */
import type { Predictions } from "../data/source.ts";
import { Canvas, type Rgb } from "./canvas.ts";

/** counts[true][predicted] of a test set. */
export function confusionMatrix(p: Predictions): number[][] {
  const m = Array.from({ length: p.classes }, () => new Array(p.classes).fill(0));
  p.predicted.forEach((q, i) => m[p.labels[i]][q]++);
  return m;
}

/** The matrix as text: rows are true classes, columns predictions, with the error per class. */
export function confusionText(m: number[][]): string {
  const width = Math.max(5, ...m.flat().map((v) => String(v).length + 1));
  const cell = (s: string | number) => String(s).padStart(width);
  const lines = [`${"true".padEnd(5)}${m.map((_, j) => cell(j)).join("")}${cell("err%")}`];
  m.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const err = total ? (100 * (total - row[i])) / total : 0;
    lines.push(`${String(i).padEnd(5)}${row.map(cell).join("")}${cell(err.toFixed(1))}`);
  });
  return lines.join("\n");
}

/** A heat map of the matrix, each row scaled by its total (white 0 to dark blue 1), with counts. */
export function confusionHeatmap(m: number[][], title: string): Canvas {
  const k = m.length;
  const size = 36, left = 30, top = 40;
  const c = new Canvas(Math.max(left + k * size + 10, 16 + 12 * title.length), top + k * size + 10);
  c.text(left, 8, title, [0, 0, 0], 2);
  for (let i = 0; i < k; i++) {
    const total = m[i].reduce((a, b) => a + b, 0) || 1;
    c.text(8, top + i * size + size / 2 - 3, String(i), [0, 0, 0]);
    c.text(left + i * size + size / 2 - 3, top - 10, String(i), [0, 0, 0]);
    for (let j = 0; j < k; j++) {
      const f = m[i][j] / total;
      const shade: Rgb = [
        Math.round(255 - 225 * f),
        Math.round(255 - 180 * f),
        Math.round(255 - 60 * f),
      ];
      c.fillRect(left + j * size, top + i * size, size - 1, size - 1, shade);
      const ink: Rgb = f > 0.5 ? [255, 255, 255] : [0, 0, 0];
      const label = String(m[i][j]);
      c.text(left + j * size + (size - 6 * label.length) / 2, top + i * size + 14, label, ink);
    }
  }
  return c;
}

/** The test error (percent) against the iteration, axes from 0. */
export function errorCurve(points: { iteration: number; error: number }[], title: string): Canvas {
  const w = 480, h = 300, left = 50, bottom = 30, top = 30;
  const c = new Canvas(w, h);
  c.text(left, 8, title, [0, 0, 0], 2);
  const maxX = Math.max(1, ...points.map((p) => p.iteration));
  const maxY = Math.max(1, ...points.map((p) => p.error)) * 1.05;
  const px = (x: number) => left + (x / maxX) * (w - left - 20);
  const py = (y: number) => h - bottom - (y / maxY) * (h - bottom - top);
  c.line(left, py(0), w - 20, py(0), [0, 0, 0]);
  c.line(left, py(0), left, top, [0, 0, 0]);
  c.text(left - 40, top - 3, `${maxY.toFixed(1)}%`, [0, 0, 0]);
  c.text(left - 12, py(0) - 3, "0", [0, 0, 0]);
  c.text(w - 20 - 6 * String(maxX).length, h - bottom + 8, String(maxX), [0, 0, 0]);
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    c.line(px(a.iteration), py(a.error), px(b.iteration), py(b.error), [200, 30, 30]);
  }
  for (const p of points) c.disc(px(p.iteration), py(p.error), 2, [200, 30, 30]);
  const last = points.at(-1);
  if (last) c.text(left + 10, top + 4, `LAST ${last.error.toFixed(2)}%`, [200, 30, 30]);
  return c;
}

/**
 * Rows of images side by side at `scale` pixels per pixel; each image is
 * (c, h, w) floats in [0, 1] (c = 1 grey or 3 RGB), values outside clipped.
 */
export function imageGrid(
  rows: Float32Array[][],
  shape: [number, number, number],
  scale = 2,
  margin = 2,
): Canvas {
  const [ch, h, w] = shape;
  const cols = Math.max(...rows.map((r) => r.length));
  const cw = w * scale + margin, rh = h * scale + margin;
  const c = new Canvas(cols * cw + margin, rows.length * rh + margin);
  rows.forEach((row, r) =>
    row.forEach((img, k) => {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = (q: number) =>
            Math.round(255 * Math.min(1, Math.max(0, img[(q * h + y) * w + x])));
          const rgb: Rgb = ch === 3 ? [v(0), v(1), v(2)] : [v(0), v(0), v(0)];
          c.fillRect(margin + k * cw + x * scale, margin + r * rh + y * scale, scale, scale, rgb);
        }
      }
    })
  );
  return c;
}
