/** A small model and training step shared by the lifetime and reproducibility tests. */
import type { Backend } from "../src/backend/backend.ts";
import { backward } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { BatchNorm, Dropout, Linear, ReLU, Sequential } from "../src/nn/layers.ts";
import { Adam } from "../src/nn/optim.ts";

/** An MLP with batch norm and dropout, its optimiser, and a step on random data. */
export function smallSetup(be: Backend, seed: number) {
  const rng = new Rng(seed);
  const init = rng.fork();
  const model = new Sequential(
    new Linear(be, init, 10, 32),
    new BatchNorm(be, 32),
    ReLU(),
    new Dropout(0.2, rng.fork()),
    new Linear(be, init, 32, 3),
  );
  const opt = new Adam(model.parameters(), { lr: 1e-2 });
  const data = rng.fork();
  /** One step: a labelled loss plus a KL term between two passes; returns the loss. */
  const step = (): number =>
    scope(() => {
      opt.zeroGrad();
      const x = ops.randn(be, [16, 10], data);
      const labels = Tensor.from(be, Array.from({ length: 16 }, (_, i) => i % 3), [16]);
      const logits = model.forward(x);
      const noisy = model.forward(ops.gaussianNoise(x, 0.1, data));
      const loss = ops.add(ops.crossEntropy(logits, labels), ops.klDivergence(logits, noisy));
      backward(loss);
      opt.update();
      return loss.item();
    });
  return { model, opt, step };
}
