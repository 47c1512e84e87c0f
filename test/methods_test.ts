import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { noGrad } from "../src/autograd/tape.ts";
import { scope } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { mlp } from "../src/models/mlp.ts";
import { vatLoss } from "../src/methods/vat.ts";

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
