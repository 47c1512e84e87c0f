import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { smallSetup } from "./training_helpers.ts";
import { randn, randUniform, Rng } from "../src/ops/random.ts";
import { scope } from "../src/autograd/tensor.ts";

const be = await createCpuBackend("f32");

function trainedWeights(seed: number): Float32Array[] {
  const { model, opt, step } = smallSetup(be, seed);
  for (let i = 0; i < 50; i++) step();
  const w = model.parameters().map((p) => p.toArray() as Float32Array);
  opt.dispose();
  model.dispose();
  return w;
}

Deno.test("the same seed and thread count give bit-identical weights", () => {
  const a = trainedWeights(11);
  const b = trainedWeights(11);
  const c = trainedWeights(12);
  a.forEach((w, i) => assert.deepEqual(w, b[i], `parameter ${i} differs between identical runs`));
  assert(
    a.some((w, i) => w.some((v, j) => v !== c[i][j])),
    "a different seed gave the same weights",
  );
});

Deno.test("Philox draws do not depend on the thread count, and offsets address the stream", () => {
  scope(() => {
    const threads = be.threads();
    const draw = () => Float64Array.from(randn(be, [100_003], new Rng(9)).toArray());
    be.setThreads(1);
    const one = draw();
    be.setThreads(2);
    const two = draw();
    be.setThreads(threads);
    assert.deepEqual(one, two);
    const rng = new Rng(9);
    rng.offset = 1; // skips one block of four numbers
    const shifted = Float64Array.from(randn(be, [100], rng).toArray());
    assert.deepEqual(shifted, one.slice(4, 104));
    const u = Float64Array.from(randUniform(be, [200_000], new Rng(1)).toArray());
    const mean = u.reduce((s, v) => s + v, 0) / u.length;
    assert(Math.abs(mean - 0.5) < 0.005, `uniform mean ${mean}`);
    const m = one.reduce((s, v) => s + v, 0) / one.length;
    const sd = Math.sqrt(one.reduce((s, v) => s + (v - m) ** 2, 0) / one.length);
    assert(Math.abs(m) < 0.01 && Math.abs(sd - 1) < 0.01, `normal mean ${m} sd ${sd}`);
  });
});
