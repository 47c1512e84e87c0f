import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { noGrad } from "../src/autograd/tape.ts";
import { scope } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { mlp } from "../src/models/mlp.ts";
import { vatLoss } from "../src/methods/vat.ts";
import { mlpGenerator } from "../src/models/generator.ts";
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
      output: "normalized",
      bound: 0.3,
      radius,
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
