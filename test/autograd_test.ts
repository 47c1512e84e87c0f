import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { backward, detach, grad, noGrad, tapeLength } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";

const be = await createCpuBackend("f64");
const t = (data: number[], shape: number[], requiresGrad = false) => {
  const x = Tensor.from(be, data, shape);
  x.requiresGrad = requiresGrad;
  return x;
};

Deno.test("backward accumulates into leaves across calls until the flag is cleared", () => {
  scope(() => {
    const w = t([1, 2, 3], [3], true);
    const x = t([4, 5, 6], [3]);
    backward(ops.sum(ops.mul(w, x)));
    assert.deepEqual([...w.grad!.toArray()], [4, 5, 6]);
    backward(ops.sum(ops.mul(w, x)));
    assert.deepEqual([...w.grad!.toArray()], [8, 10, 12]);
    w.gradReady = false;
    backward(ops.sum(ops.mul(w, w)));
    assert.deepEqual([...w.grad!.toArray()], [2, 4, 6]);
    assert.equal(x.grad, null, "an input without requiresGrad got a gradient");
  });
});

Deno.test("grad() returns input gradients and leaves parameters' grad alone", () => {
  scope(() => {
    const w = t([2, -1], [2], true);
    const x = t([3, 4], [2], true);
    const [gx] = grad(ops.sum(ops.mul(ops.mul(w, x), x)), [x]);
    assert.deepEqual([...gx.toArray()], [12, -8]); // d/dx w x^2 = 2 w x
    assert.equal(w.grad, null);
  });
});

Deno.test("detach and noGrad stop gradients; scopes cut the tape", () => {
  const before = tapeLength();
  scope(() => {
    const x = t([1, 2], [2], true);
    const y = ops.mul(x, detach(x)); // d/dx = detach(x) only
    const [g] = grad(ops.sum(y), [x]);
    assert.deepEqual([...g.toArray()], [1, 2]);
    const z = noGrad(() => ops.mul(x, x));
    assert.equal(z.requiresGrad, false);
    assert(tapeLength() > before);
  });
  assert.equal(tapeLength(), before);
});

Deno.test("a gradient with respect to an unused tensor is zero", () => {
  scope(() => {
    const x = t([1, 2], [2], true);
    const unused = t([5], [1], true);
    const [g] = grad(ops.sum(x), [unused]);
    assert.deepEqual([...g.toArray()], [0]);
  });
});

Deno.test("shape mismatches name the op and the shapes", () => {
  scope(() => {
    assert.throws(
      () => ops.matmul(t([1, 2, 3, 4, 5, 6], [2, 3]), t([1, 2, 3, 4], [2, 2])),
      /Cannot run matmul: .*\[2, 3\], \[2, 2\]/,
    );
    assert.throws(
      () => ops.add(t([1, 2, 3], [3]), t([1, 2], [2])),
      /Cannot run add: shapes do not broadcast/,
    );
  });
});

Deno.test("backward into chosen leaves leaves the others alone", () => {
  scope(() => {
    const a = t([2], [1], true);
    const b = t([3], [1], true);
    const y = ops.mul(a, b);
    backward(y, { into: [a] });
    assert.deepEqual([...a.grad!.toArray()], [3]);
    assert.equal(b.grad, null);
    backward(ops.scale(y, 2), { into: [b] });
    assert.deepEqual([...b.grad!.toArray()], [4]);
    assert.deepEqual([...a.grad!.toArray()], [3]);
  });
});
