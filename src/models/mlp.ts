/**
 * Fully connected classifiers: VAT's MNIST network (784-1200-600-300-150-10
 * with batch norm and ReLU) and the paper's two-circles MLP (2-100-50-2).
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Rng } from "../ops/random.ts";
import { BatchNorm, Linear, ReLU, Sequential } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";

/** An MLP: Linear (+ BatchNorm) + ReLU per hidden layer, a Linear output. */
export function mlp(backend: Backend, rng: Rng, sizes: number[], batchNorm: boolean): Sequential {
  const layers: Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const last = i + 2 === sizes.length;
    // A bias before batch norm is cancelled by its mean; VAT's network has none there.
    layers.push(new Linear(backend, rng, sizes[i], sizes[i + 1], !batchNorm));
    if (batchNorm) layers.push(new BatchNorm(backend, sizes[i + 1]));
    if (!last) layers.push(ReLU());
  }
  return new Sequential(...layers);
}

/** VAT's MNIST classifier: 784-1200-600-300-150-10, batch norm after every linear layer, ReLU. */
export const vatMnistMlp = (backend: Backend, rng: Rng): Sequential =>
  mlp(backend, rng, [784, 1200, 600, 300, 150, 10], true);
