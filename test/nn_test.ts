import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { backward } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import {
  BatchNorm,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Linear,
  reestimateBatchNorm,
  Sequential,
} from "../src/nn/layers.ts";
import { Adam, linearDecay, switchAt } from "../src/nn/optim.ts";

const be = await createCpuBackend("f64");

Deno.test("layers start from PyTorch's default initialisation", () => {
  const rng = new Rng(3);
  const cases: [string, Tensor, number][] = [];
  const lin = new Linear(be, rng, 300, 20);
  cases.push(["linear weight", lin.weight, 1 / Math.sqrt(300)], [
    "linear bias",
    lin.bias!,
    1 / Math.sqrt(300),
  ]);
  const conv = new Conv2d(be, rng, 6, 16, 5);
  cases.push(["conv weight", conv.weight, 1 / Math.sqrt(6 * 25)]);
  const convT = new ConvTranspose2d(be, rng, 16, 6, 4);
  assert.deepEqual(convT.weight.shape, [16, 6, 4, 4]);
  cases.push(["transposed conv weight", convT.weight, 1 / Math.sqrt(6 * 16)]);
  for (const [name, t, bound] of cases) {
    const v = Array.from(t.toArray());
    const max = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert(max <= bound && max > 0.9 * bound, `${name}: max |w| ${max}, bound ${bound}`);
  }
  const bn = new BatchNorm(be, 4);
  assert.deepEqual([...bn.weight.toArray()], [1, 1, 1, 1]);
  assert.deepEqual([...bn.bias.toArray()], [0, 0, 0, 0]);
  assert.deepEqual([...bn.runningVar.toArray()], [1, 1, 1, 1]);
  assert.deepEqual(
    new Sequential(lin, bn).namedParameters().map(([n]) => n),
    ["0.weight", "0.bias", "1.weight", "1.bias"],
  );
  for (const m of [lin, conv, convT, bn]) m.dispose();
});

Deno.test("Adam follows a reference implementation, with learning-rate and beta1 schedules", () => {
  const lr = linearDecay(0.1, 6, 3);
  const beta1 = switchAt(0.9, 0.5, 3);
  assert.deepEqual([0, 2, 3, 4, 5, 6].map(lr), [0.1, 0.1, 0.1, 0.1 * 2 / 3, 0.1 / 3, 0]);
  const p = Tensor.from(be, [1, -2, 3], [3]);
  p.requiresGrad = true;
  const opt = new Adam([p], { lr, beta1, weightDecay: 0.01 });
  // The reference: f(p) = sum p^2 / 2 + sum p, so g = p + 1 (+ weight decay).
  const ref = [1, -2, 3];
  const m = [0, 0, 0], v = [0, 0, 0];
  let b1p = 1, b2p = 1;
  for (let t = 0; t < 6; t++) {
    scope(() => {
      opt.zeroGrad();
      backward(ops.add(ops.scale(ops.sum(ops.mul(p, p)), 0.5), ops.sum(p)));
      opt.update();
    });
    const b1 = beta1(t);
    b1p *= b1;
    b2p *= 0.999;
    for (let i = 0; i < 3; i++) {
      const g = ref[i] + 1 + 0.01 * ref[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      ref[i] -= lr(t) * (m[i] / (1 - b1p)) / (Math.sqrt(v[i] / (1 - b2p)) + 1e-8);
    }
    const got = p.toArray();
    ref.forEach((r, i) => assert(Math.abs(got[i] - r) < 1e-12, `step ${t}: ${got[i]} vs ${r}`));
  }
  opt.dispose();
  p.grad?.dispose();
  p.dispose();
});

Deno.test("a parameter without a gradient this step is not updated", () => {
  const a = Tensor.from(be, [1], [1]);
  const b = Tensor.from(be, [1], [1]);
  a.requiresGrad = b.requiresGrad = true;
  const opt = new Adam([a, b], { lr: 0.5 });
  scope(() => backward(ops.sum(a)));
  opt.update();
  assert.notEqual(a.toArray()[0], 1);
  assert.equal(b.toArray()[0], 1);
  opt.dispose();
});

Deno.test("native kernels reject bad arguments with an error naming the kernel", () => {
  scope(() => {
    const t = Tensor.zeros(be, [4]);
    assert.throws(
      () => be.gemm(false, false, 0, 2, 2, 1, t.storage, 2, t.storage, 2, 0, t.storage, 2),
      /Cannot run native kernel gemm: .*m/,
    );
    assert.throws(
      () => be.softmaxForward(t.storage, t.storage, 2, -1, false),
      /Cannot run native kernel softmax_forward/,
    );
  });
});

Deno.test("reestimateBatchNorm: the running statistics become the mean of the batches' statistics; dropout stays off", () => {
  const bn = new BatchNorm(be, 2, 0.01);
  const rng = new Rng(3);
  const drop = new Dropout(0.5, rng);
  const model = new Sequential(drop, bn);
  model.eval();
  const batches = [[1, 10, 3, 30], [5, -2, 7, 2], [0, 0, 2, 4]].map((d) =>
    Tensor.from(be, d, [2, 2])
  );
  const before = JSON.stringify(rng.exportState());
  reestimateBatchNorm(model, batches);
  // Per channel: batch means (2, 20), (6, 0), (1, 2); unbiased batch variances (2, 200), (2, 8), (2, 8).
  const near = (a: ArrayLike<number>, b: number[]) =>
    b.forEach((v, i) => assert(Math.abs(a[i] - v) < 1e-9, `${a[i]} != ${v}`));
  near(bn.runningMean.toArray(), [3, 22 / 3]);
  near(bn.runningVar.toArray(), [2, 72]);
  assert.equal(bn.momentum, 0.01, "the momentum is restored");
  assert.equal(model.training, false);
  assert.equal(bn.training, false);
  assert.equal(JSON.stringify(rng.exportState()), before, "dropout drew from its stream");
});
