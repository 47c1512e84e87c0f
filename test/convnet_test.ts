import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { backward, noGrad } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Adam } from "../src/nn/optim.ts";
import { withFrozenBatchNormStats } from "../src/nn/layers.ts";
import type { Module } from "../src/nn/module.ts";
import { convLarge, convSmall } from "../src/models/convnet.ts";

const be = await createCpuBackend("f32");
const count = (m: Module) => m.parameters().reduce((s, p) => s + p.size, 0);
const cifar = { inChannels: 3, classes: 10 };

// Expected counts from the same nets in PyTorch 1.13 (Conv2d(bias=False) + BatchNorm2d per
// conv, Linear with bias, BatchNorm1d(10) for top_bn), summing p.numel() over parameters(); by
// hand for Conv-Large: convs 3*128*9 + 2*128*128*9 + 128*256*9 + 2*256*256*9 + 256*512*9
// + 512*256 + 256*128 = 3,116,416; BN 2*(3*128 + 3*256 + 512 + 256 + 128) = 4,096;
// dense 128*10 + 10 = 1,290; total 3,121,802 (+20 with top BN).
Deno.test("Conv-Large and Conv-Small have as many parameters as their PyTorch twins", () => {
  const cases: [string, Module, number][] = [
    ["Conv-Large", convLarge(be, new Rng(1), cifar), 3_121_802],
    ["Conv-Large, top BN", convLarge(be, new Rng(1), { ...cifar, topBn: true }), 3_121_822],
    ["Conv-Small (CIFAR-10)", convSmall(be, new Rng(1), cifar), 1_408_234],
    ["Conv-Small (SVHN)", convSmall(be, new Rng(1), { ...cifar, widths: [64, 128] }), 627_530],
  ];
  for (const [name, m, expected] of cases) {
    assert.equal(count(m), expected, name);
    m.dispose();
  }
});

Deno.test("Conv-Large and Conv-Small map 32x32x3 images to (n, 10) logits", () => {
  for (const make of [convLarge, convSmall]) {
    const m = make(be, new Rng(2), cifar);
    scope(() => {
      const x = ops.randn(be, [2, 3, 32, 32], new Rng(3));
      for (const training of [true, false]) {
        m.train(training);
        const y = noGrad(() => m.forward(x));
        assert.deepEqual(y.shape, [2, 10]);
        assert(Array.from(y.toArray()).every(Number.isFinite));
      }
    });
    m.dispose();
  }
});

Deno.test("a few Adam steps of Conv-Large reduce the loss on a tiny batch", () => {
  const m = convLarge(be, new Rng(4), cifar);
  const opt = new Adam(m.parameters(), { lr: 1e-3 });
  const data = new Rng(5);
  const x = ops.randn(be, [6, 3, 32, 32], data);
  const y = Tensor.from(be, [0, 1, 2, 3, 4, 5], [6]);
  // The same dropout masks for both measurements: rewind the net's noise stream.
  const loss = () =>
    scope(() => {
      m.noise.offset = 0;
      return noGrad(() => withFrozenBatchNormStats(() => ops.crossEntropy(m.forward(x), y).item()));
    });
  const before = loss();
  for (let i = 0; i < 4; i++) {
    scope(() => {
      opt.zeroGrad();
      backward(ops.crossEntropy(m.forward(x), y));
      opt.update();
    });
  }
  for (const p of m.parameters()) assert(p.grad, "every parameter receives a gradient");
  const after = loss();
  assert(after < 0.8 * before, `loss ${before} -> ${after}`);
  x.dispose();
  y.dispose();
  m.dispose();
});
