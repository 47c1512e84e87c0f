/**
 * The two-circles figure: the classifier's probability of the inner class
 * over the plane, its 0.5 contour, the unlabelled points, the labelled points
 * and a sample of generated points G(x, z) with lines to their x.
 * @module
 */
import { noGrad } from "../autograd/tape.ts";
import { scope, Tensor } from "../autograd/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import * as ops from "../ops/mod.ts";
import type { Module } from "../nn/module.ts";
import { Canvas, type Rgb } from "./canvas.ts";

/** Host copies of what a panel shows. */
export interface PanelData {
  labelled: { x: ArrayLike<number>; y: ArrayLike<number> };
  unlabelled: ArrayLike<number>;
  /** Pairs (x, G(x, z)) as flat (n, 2) arrays. */
  generated?: { from: ArrayLike<number>; to: ArrayLike<number> };
}

const OUTER: Rgb = [70, 110, 200];
const INNER: Rgb = [225, 120, 50];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** Draws one panel of `size` pixels over [-extent, extent]^2. */
export function boundaryPanel(
  backend: Backend,
  classifier: Module,
  data: PanelData,
  extent: number,
  size = 240,
  title = "",
): Canvas {
  const canvas = new Canvas(size, size);
  const toPx = (v: number) => ((v + extent) / (2 * extent)) * (size - 1);
  const toPy = (v: number) => ((extent - v) / (2 * extent)) * (size - 1);
  // The probability of the inner class at every pixel, from one batched forward pass.
  const grid = new Float32Array(size * size * 2);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      grid[2 * (py * size + px)] = -extent + (2 * extent * px) / (size - 1);
      grid[2 * (py * size + px) + 1] = extent - (2 * extent * py) / (size - 1);
    }
  }
  const wasTraining = classifier.training;
  classifier.eval();
  const p = scope(() =>
    noGrad(() =>
      ops.softmax(classifier.forward(Tensor.from(backend, grid, [size * size, 2]))).toArray()
    )
  );
  classifier.train(wasTraining);
  for (let i = 0; i < size * size; i++) {
    const q = p[2 * i + 1];
    const edge = Math.abs(q - 0.5) < 0.02;
    canvas.setPixel(
      i % size,
      Math.floor(i / size),
      edge ? [40, 40, 40] : mix(mix(OUTER, INNER, q), [255, 255, 255], 0.6),
    );
  }
  const u = data.unlabelled;
  for (let i = 0; i + 1 < u.length; i += 2) {
    canvas.setPixel(toPx(u[i]), toPy(u[i + 1]), [120, 120, 120]);
  }
  if (data.generated) {
    const { from, to } = data.generated;
    for (let i = 0; i + 1 < from.length; i += 2) {
      canvas.line(toPx(from[i]), toPy(from[i + 1]), toPx(to[i]), toPy(to[i + 1]), [60, 160, 60]);
      canvas.disc(toPx(to[i]), toPy(to[i + 1]), 1.5, [20, 120, 20]);
    }
  }
  const { x, y } = data.labelled;
  for (let i = 0; i < y.length; i++) {
    canvas.disc(toPx(x[2 * i]), toPy(x[2 * i + 1]), 5, [0, 0, 0]);
    canvas.disc(toPx(x[2 * i]), toPy(x[2 * i + 1]), 3.5, y[i] === 0 ? OUTER : INNER);
  }
  if (title) canvas.text(4, 4, title, [0, 0, 0]);
  return canvas;
}

/** Lays panels out in a grid with a margin. */
export function grid(panels: Canvas[], columns: number, margin = 6): Canvas {
  const w = panels[0].width, h = panels[0].height;
  const rows = Math.ceil(panels.length / columns);
  const out = new Canvas(columns * (w + margin) + margin, rows * (h + margin) + margin);
  panels.forEach((p, i) =>
    out.blit(
      p,
      margin + (i % columns) * (w + margin),
      margin + Math.floor(i / columns) * (h + margin),
    )
  );
  return out;
}
