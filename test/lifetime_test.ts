import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { keep, scope, Tensor } from "../src/autograd/tensor.ts";
import { tapeLength } from "../src/autograd/tape.ts";
import { smallSetup } from "./training_helpers.ts";

const be = await createCpuBackend("f32");

Deno.test("5,000 training steps keep the live bytes flat", () => {
  const { step } = smallSetup(be, 5);
  for (let i = 0; i < 10; i++) step();
  const live = be.liveBytes();
  const tape = tapeLength();
  let last = 0;
  for (let i = 0; i < 5000; i++) last = step();
  assert.equal(be.liveBytes(), live, "live bytes grew over 5,000 steps");
  assert.equal(tapeLength(), tape, "the tape grew over 5,000 steps");
  assert(Number.isFinite(last));
});

Deno.test("a scope frees its tensors, keep() moves one out, and freed tensors cannot be used", () => {
  const before = be.liveBytes();
  let leaked: Tensor | null = null;
  const kept = scope(() => {
    leaked = Tensor.zeros(be, [100]);
    return keep(Tensor.full(be, [10], 2));
  });
  assert.equal(be.liveBytes(), before + 10 * 4);
  assert.throws(() => leaked!.toArray(), /freed/);
  assert.deepEqual([...kept.toArray()], Array(10).fill(2));
  kept.dispose();
  assert.equal(be.liveBytes(), before);
});
