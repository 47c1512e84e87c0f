import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { noGrad } from "../src/autograd/tape.ts";
import { scope } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { mlp } from "../src/models/mlp.ts";
import { vatLoss } from "../src/methods/vat.ts";
import { centerRows, mlpGenerator } from "../src/models/generator.ts";
import { agreeingKl, relativeKl } from "../src/methods/advgen.ts";
import { backward } from "../src/autograd/tape.ts";

const be = await createCpuBackend("f32");

Deno.test("VAT's perturbation changes the prediction more than random ones of the same radius", () => {
  scope(() => {
    const model = mlp(be, new Rng(1), [2, 32, 32, 2], false);
    const x = ops.randn(be, [64, 2], new Rng(2));
    const clean = noGrad(() => model.forward(x));
    const eps = 0.3;
    const vat = vatLoss(model, x, clean, new Rng(3), { eps, xi: 1e-3, iterations: 1 }).item();
    const random = noGrad(() => {
      const r = ops.scale(ops.l2Normalize(ops.randn(be, [64, 2], new Rng(4))), eps);
      return ops.klDivergence(clean, model.forward(ops.add(x, r))).item();
    });
    assert(
      vat > 2 * random,
      `VAT loss ${vat} is not clearly above a random perturbation's ${random}`,
    );
  });
});

Deno.test("a normalized generator moves every sample by exactly its radius, with gradients to its decoder", () => {
  scope(() => {
    const radius = 0.1;
    const g = mlpGenerator(be, new Rng(5), 2, [16], 4, {
      zDim: 3,
      output: { mode: "normalized", radius, center: false },
    });
    const x = ops.randn(be, [32, 2], new Rng(6));
    const xg = g.forward(x);
    const [a, b] = [x.toArray(), xg.toArray()];
    for (let i = 0; i < 32; i++) {
      const norm = Math.hypot(b[2 * i] - a[2 * i], b[2 * i + 1] - a[2 * i + 1]);
      assert(Math.abs(norm - radius) < 1e-5, `sample ${i} moved by ${norm}, not ${radius}`);
    }
    // The direction still carries a gradient to the decoder.
    const target = ops.randn(be, [32, 2], new Rng(7));
    backward(ops.squaredError(target, xg, "mean"), { into: g.decoderParameters() });
    const grads = g.decoderParameters().map((p) => p.grad?.toArray() ?? []);
    assert(grads.some((gr) => gr.some((v) => v !== 0)), "no gradient reached the decoder");
  });
});

Deno.test("a centred generator's steps average to zero over the batch", () => {
  scope(() => {
    const x = ops.randn(be, [16, 3], new Rng(8));
    const c = centerRows(ops.affine(x, 2, 5)).toArray();
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let i = 0; i < 16; i++) s += c[i * 3 + j];
      assert(Math.abs(s / 16) < 1e-5, `column ${j} has mean ${s / 16}`);
    }
  });
});

Deno.test("the relative KL weighs each sample's KL by 1 / (its own + the batch mean)", () => {
  scope(() => {
    const a = ops.randn(be, [8, 3], new Rng(9));
    const b = ops.randn(be, [8, 3], new Rng(10));
    const { loss, mean } = relativeKl(a, b);
    assert(Math.abs(mean.item() - ops.klDivergence(a, b).item()) < 1e-5);
    // Per-row KL by hand.
    const [pa, pb] = [Array.from(a.toArray()), Array.from(b.toArray())];
    const rows = Array.from({ length: 8 }, (_, i) => {
      const la = pa.slice(3 * i, 3 * i + 3), lb = pb.slice(3 * i, 3 * i + 3);
      const lse = (v: number[]) => Math.log(v.reduce((s, x) => s + Math.exp(x), 0));
      const [za, zb] = [lse(la), lse(lb)];
      return la.reduce((s, x, j) => s + Math.exp(x - za) * (x - za - (lb[j] - zb)), 0);
    });
    const m = rows.reduce((s, v) => s + v, 0) / 8;
    const want = rows.reduce((s, v) => s + v / (v + m), 0) / 8;
    assert(Math.abs(loss.item() - want) < 1e-5, `relative KL ${loss.item()}, expected ${want}`);
  });
});

Deno.test("the agreeing KL counts only the rows whose two predictions share their argmax", () => {
  scope(() => {
    const a = ops.randn(be, [64, 3], new Rng(11));
    const b = ops.randn(be, [64, 3], new Rng(12));
    const { loss, kept } = agreeingKl(a, b);
    const [pa, pb] = [Array.from(a.toArray()), Array.from(b.toArray())];
    const argmax = (v: number[]) => v.indexOf(Math.max(...v));
    let sum = 0, same = 0;
    for (let i = 0; i < 64; i++) {
      const la = pa.slice(3 * i, 3 * i + 3), lb = pb.slice(3 * i, 3 * i + 3);
      if (argmax(la) !== argmax(lb)) continue;
      same++;
      const lse = (v: number[]) => Math.log(v.reduce((s, x) => s + Math.exp(x), 0));
      const [za, zb] = [lse(la), lse(lb)];
      sum += la.reduce((s, x, j) => s + Math.exp(x - za) * (x - za - (lb[j] - zb)), 0);
    }
    // Random logits: about a third of the rows agree, so the mask is neither all nor none.
    assert(same > 5 && same < 59, `${same} rows agree`);
    assert(Math.abs(kept.item() - same / 64) < 1e-4, `kept ${kept.item()}, expected ${same / 64}`);
    assert(
      Math.abs(loss.item() - sum / 64) < 1e-5,
      `agreeing KL ${loss.item()}, expected ${sum / 64}`,
    );
  });
});
