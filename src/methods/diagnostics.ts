/**
 * What the generator does, measured at each evaluation (the MNIST research
 * issue's diagnostics): the size of G's steps, how often they flip C's
 * prediction, the KL they cause, how alike their directions are across
 * samples, how close they are to VAT's direction at the same points, and
 * the KL that VAT's direction causes at the same step sizes (what G would
 * cost C if it found C's most sensitive first-order direction).
 * Measured on a fixed batch with a fixed z and a fixed VAT start, C in
 * evaluation mode and G's batch-norm statistics left alone, so no training
 * stream or statistic moves: a run's training is the same with or without.
 * @module
 */
import { noGrad } from "../autograd/tape.ts";
import { scope, type Tensor } from "../autograd/tensor.ts";
import { argmaxRows } from "../data/source.ts";
import { type Generator, rowNorms } from "../models/generator.ts";
import { withFrozenBatchNormStats } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";
import * as ops from "../ops/mod.ts";
import { Rng } from "../ops/random.ts";
import { vatPerturbation } from "./vat.ts";

/** The diagnostics of G(x, z) on `x`, as metric names (prefixed g_) and values. */
export function generatorDiagnostics(
  classifier: Module,
  generator: Generator,
  x: Tensor,
  zDim: number,
): Record<string, number> {
  const wasC = classifier.training;
  classifier.eval();
  try {
    return scope(() => {
      const n = x.shape[0];
      const z = ops.randn(x.backend, [n, zDim], new Rng(0x6d61));
      const xg = noGrad(() => withFrozenBatchNormStats(() => generator.generate(x, z)));
      const step = noGrad(() => ops.flatten(ops.sub(xg, x)));
      const clean = noGrad(() => classifier.forward(x));
      const moved = noGrad(() => classifier.forward(xg));
      const kl = noGrad(() => ops.klDivergence(clean, moved)).item();
      const vat = ops.flatten(vatPerturbation(classifier, x, clean, new Rng(0x766174), {
        eps: 1,
        xi: 1e-6,
        iterations: 1,
      }));
      // VAT's unit directions scaled to each sample's G-step norm.
      const vatKl = noGrad(() => {
        const scaled = ops.mul(vat, rowNorms(step));
        return ops.klDivergence(
          clean,
          classifier.forward(ops.add(x, ops.reshape(scaled, x.shape))),
        );
      }).item();
      const k = clean.shape[1];
      const before = argmaxRows(clean.toArray(), n, k);
      const after = argmaxRows(moved.toArray(), n, k);
      const r = step.toArray(), v = vat.toArray();
      const d = r.length / n;
      let l2 = 0, linf = 0, cosVat = 0;
      const sum = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        let sq = 0, max = 0, dot = 0, vsq = 0;
        for (let j = 0; j < d; j++) {
          const a = r[i * d + j], b = v[i * d + j];
          sq += a * a;
          max = Math.max(max, Math.abs(a));
          dot += a * b;
          vsq += b * b;
        }
        const norm = Math.sqrt(sq);
        l2 += norm;
        linf += max;
        cosVat += norm > 0 && vsq > 0 ? dot / (norm * Math.sqrt(vsq)) : 0;
        if (norm > 0) { for (let j = 0; j < d; j++) sum[j] += r[i * d + j] / norm; }
      }
      // Mean cosine over pairs of distinct samples: (|sum of unit steps|^2 - n) / (n (n - 1)).
      const total = sum.reduce((s, u) => s + u * u, 0);
      const flips = before.reduce((c, p, i) => c + (p !== after[i] ? 1 : 0), 0);
      return {
        g_l2: l2 / n,
        g_linf: linf / n,
        g_flip: flips / n,
        g_kl: kl,
        g_pair_cos: n > 1 ? (total - n) / (n * (n - 1)) : 1,
        g_vat_cos: cosVat / n,
        g_vat_kl: vatKl,
      };
    });
  } finally {
    classifier.train(wasC);
  }
}
