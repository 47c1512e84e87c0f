/**
 * Shape checks shared by the ops: every op validates its inputs here before
 * any native call, and a mismatch names the op and the shapes.
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";

/** Throws "Cannot run OP: MESSAGE (shapes)" unless `cond` holds. */
export function expect(cond: boolean, op: string, message: string, ...tensors: Tensor[]): void {
  if (cond) return;
  const shapes = tensors.map((t) => `[${t.shape.join(", ")}]`).join(", ");
  throw new Error(`Cannot run ${op}: ${message}${shapes ? ` (shapes ${shapes})` : ""}`);
}

/** Checks that all tensors live on the same backend. */
export function sameBackend(op: string, ...tensors: Tensor[]): void {
  const b = tensors[0].backend;
  expect(
    tensors.every((t) => t.backend === b),
    op,
    "tensors live on different backends",
    ...tensors,
  );
}

/** Checks the number of dimensions. */
export function expectRank(op: string, t: Tensor, rank: number, what: string): void {
  expect(t.shape.length === rank, op, `${what} must have ${rank} dimensions`, t);
}

/** Output size of a convolution or pooling window along one axis. */
export function convOutSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}
