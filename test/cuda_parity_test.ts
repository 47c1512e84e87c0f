/**
 * GPU parity: every op of op_cases.ts, forward and backward, on the CUDA
 * backend against the CPU backend (float32) on the same inputs, plus large
 * shapes that take the kernels' multi-block paths, Philox bits, the fused
 * Adam, the no-cudaMalloc-after-the-first-step rule and out-of-memory errors.
 *
 * The measure is the norm-wise relative error ||gpu - cpu|| / ||cpu||: under
 * 1e-5 in full float32 (TF32 off), under 1e-2 with TF32 on. These tests run
 * where the machine shows an NVIDIA GPU and are skipped, saying so, elsewhere.
 */
import assert from "node:assert/strict";
import type { Backend, Numbers } from "../src/backend/backend.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { createCudaBackend, type CudaBackend, hasNvidiaGpu } from "../src/backend/cuda.ts";
import { backward, grad } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Adam } from "../src/nn/optim.ts";
import { convLarge } from "../src/models/convnet.ts";
import { vatLoss } from "../src/methods/vat.ts";
import { type CaseInput, type Check, OP_GROUPS } from "./op_cases.ts";
import { mulberry32, randomArray } from "./gradcheck.ts";

const gpu = hasNvidiaGpu();
const skip = gpu ? "" : " (skipped: no NVIDIA GPU on this machine)";
const cpu = await createCpuBackend("f32");
const cuda: CudaBackend | null = gpu ? await createCudaBackend() : null;

/**
 * ||got - want|| / ||want||, with a floor for results that are zero up to
 * rounding (the input gradient of batch norm over 2 samples, say): an RMS
 * difference under 1e-7 counts as agreement.
 */
function relativeError(got: Numbers, want: Numbers): number {
  assert.equal(got.length, want.length, "sizes differ");
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  if (Math.sqrt(num / want.length) < 1e-7) return 0;
  return den === 0 ? Infinity : Math.sqrt(num / den);
}

/** Asserts the relative error is at most tol; returns it. */
function expectClose(what: string, got: Numbers, want: Numbers, tol: number): number {
  const err = relativeError(got, want);
  assert(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
  return err;
}

/** Output and input gradients of f on one backend; `weights` seeds the backward (R in sum(y R)). */
function evaluate(
  be: Backend,
  inputs: CaseInput[],
  f: (xs: Tensor[]) => Tensor,
  weights: (size: number) => Float64Array,
): { y: Numbers; grads: Numbers[] } {
  return scope(() => {
    const xs = inputs.map((i) => {
      const t = Tensor.from(be, i.data, i.shape);
      t.requiresGrad = i.grad !== false;
      return t;
    });
    const y = f(xs);
    const seed = Tensor.from(be, weights(y.size), y.shape);
    const grads = grad(y, xs.filter((x) => x.requiresGrad), seed);
    return { y: y.toArray(), grads: grads.map((g) => g.toArray()) };
  });
}

/** A Check comparing the CUDA backend with the CPU backend; `seen` gets each error. */
function parity(tol: number, seen: (err: number) => void = () => {}): Check {
  return (name, inputs, f) => {
    let w: Float64Array | null = null;
    const weights = (n: number) => (w ??= randomArray(n, mulberry32(n)));
    const want = evaluate(cpu, inputs, f, weights);
    const got = evaluate(cuda!, inputs, f, weights);
    seen(expectClose(`${name}: output`, got.y, want.y, tol));
    want.grads.forEach((g, i) => seen(expectClose(`${name}: gradient ${i}`, got.grads[i], g, tol)));
  };
}

function withTf32<T>(on: boolean, fn: () => T): T {
  cuda!.setTf32(on);
  try {
    return fn();
  } finally {
    cuda!.setTf32(true);
  }
}

for (const group of OP_GROUPS) {
  Deno.test({
    name: `cuda parity: ${group.name}${skip}`,
    ignore: !gpu,
    fn: () => withTf32(false, () => group.run(parity(1e-5))),
  });
}

const rand = mulberry32(9);
const big = (shape: number[], lo = -1, hi = 1, grad = true): CaseInput => ({
  data: randomArray(shape.reduce((a, b) => a * b, 1), rand, lo, hi),
  shape,
  grad,
});

/** Shapes large enough for grid-stride loops, multi-block and two-stage reductions. */
function largeCases(check: Check): void {
  check("sum of 1.5M", [big([1500, 1000])], ([x]) => ops.sum(x));
  check("mean of 70001", [big([70001])], ([x]) => ops.mean(x));
  check(
    "matmul 300x257x129",
    [big([300, 257]), big([257, 129])],
    ([a, b]) => ops.matmul(a, b),
  );
  check(
    "linear 256x1200 -> 600 with bias",
    [big([256, 1200]), big([600, 1200]), big([600])],
    ([x, wt, b]) => ops.linear(x, wt, b),
  );
  check(
    "conv2d Conv-Large 128->128 3x3 p1 32x32 b8",
    [big([8, 128, 32, 32]), big([128, 128, 3, 3], -0.05, 0.05), big([128])],
    ([x, wt, b]) => ops.conv2d(x, wt, b, { padding: 1 }),
  );
  check(
    "convTranspose2d 64->32 4x4 s2 p1 8x8 b16",
    [big([16, 64, 8, 8]), big([64, 32, 4, 4], -0.1, 0.1), big([32])],
    ([x, wt, b]) => ops.convTranspose2d(x, wt, b, { stride: 2, padding: 1 }),
  );
  check(
    "maxpool 2x2 on (32,128,32,32)",
    [big([32, 128, 32, 32])],
    ([x]) => ops.maxPool2d(x, { kernel: 2 }),
  );
  check("global avg pool (64,128,6,6)", [big([64, 128, 6, 6])], ([x]) => ops.globalAvgPool2d(x));
  for (const shape of [[64, 128, 16, 16], [256, 1200]]) {
    const c = shape[1];
    for (const training of [true, false]) {
      check(
        `batchNorm [${shape}] ${training ? "train" : "infer"}`,
        [big(shape, -2, 2), big([c], 0.5, 1.5), big([c])],
        ([x, g, b]) =>
          ops.batchNorm(
            x,
            g,
            b,
            {
              runningMean: ops.randUniform(x.backend, [c], new Rng(3), -0.5, 0.5),
              runningVar: ops.randUniform(x.backend, [c], new Rng(4), 0.5, 1.5),
              momentum: 0.1,
              eps: 1e-5,
            },
            training,
            false,
          ),
      );
    }
  }
  check("softmax rows of 1000", [big([64, 1000], -5, 5)], ([x]) => ops.softmax(x));
  check("log-softmax 10000 rows of 10", [big([10000, 10], -5, 5)], ([x]) => ops.logSoftmax(x));
  const labels = Float64Array.from({ length: 3000 }, (_, i) => (i * 7) % 10);
  check(
    "cross-entropy 3000 x 10",
    [big([3000, 10], -4, 4), { data: labels, shape: [3000], grad: false }],
    ([x, y]) => ops.crossEntropy(x, y),
  );
  check(
    "KL 2000 rows of 1000",
    [big([2000, 1000], -3, 3), big([2000, 1000], -3, 3)],
    ([a, b]) => ops.klDivergence(a, b),
  );
  check(
    "squared error 300k",
    [big([300, 1000]), big([300, 1000])],
    ([a, b]) => ops.squaredError(a, b, "batchmean"),
  );
  check("l2Normalize 128 x 3072", [big([128, 3, 32, 32])], ([x]) => ops.l2Normalize(x));
  check(
    "broadcast div (64,128,16,16) by (128,1,1)",
    [big([64, 128, 16, 16]), big([128, 1, 1], 0.5, 2)],
    ([a, b]) => ops.div(a, b),
  );
  check(
    "bias add (64,128,16,16)",
    [big([64, 128, 16, 16]), big([128])],
    ([x, b]) => ops.biasAdd(x, b),
  );
  check(
    "leaky relu 2M",
    [big([2000, 1000], -2, 2)],
    ([x]) => ops.leakyRelu(x, 0.1),
  );
  check(
    "dropout 1M (seeded)",
    [big([1000, 1000])],
    ([x]) => ops.dropout(x, 0.5, new Rng(11)),
  );
}

Deno.test({
  name: `cuda parity: large shapes${skip}`,
  ignore: !gpu,
  fn: () => withTf32(false, () => largeCases(parity(1e-5))),
});

Deno.test({
  name: `cuda parity: GEMMs and convolutions with TF32 within 1e-2${skip}`,
  ignore: !gpu,
  fn: () =>
    withTf32(true, () => {
      const check = parity(1e-2);
      for (const group of OP_GROUPS) {
        if (/conv|matmul|linear/.test(group.name)) group.run(check);
      }
      largeCases((name, inputs, f) => {
        if (/conv|matmul|linear/.test(name)) check(name, inputs, f);
      });
    }),
});

// The emulator's GEMMs and convolutions are the CPU library's float32 ones.
const emulated = cuda !== null && cuda.deviceInfo().name === "CPU emulator";

Deno.test({
  name: `cuda parity: GEMMs and convolutions in bf16 within bfloat16's rounding${
    skip || (emulated ? " (skipped: the emulator's GEMMs and convolutions are float32)" : "")
  }`,
  ignore: !gpu || emulated,
  fn: () =>
    withTf32(false, () =>
      cuda!.withComputePrecision("bf16", () => {
        let largest = 0;
        const check = parity(3e-2, (err) => largest = Math.max(largest, err));
        for (const group of OP_GROUPS) {
          if (/conv|matmul|linear/.test(group.name)) group.run(check);
        }
        largeCases((name, inputs, f) => {
          if (/conv|matmul|linear/.test(name)) check(name, inputs, f);
        });
        // bfloat16 keeps 8 bits: its rounding must show, or bf16 did not run.
        assert(largest > 1e-4, `no bfloat16 rounding seen (largest error ${largest})`);
      })),
});

Deno.test({
  name: `cuda parity: Philox uniforms are bit-identical, normals agree${skip}`,
  ignore: !gpu,
  fn() {
    const draw = (be: Backend, normal: boolean) =>
      scope(() => {
        const rng = new Rng(1234, 5);
        rng.take(77); // an offset that is not a multiple of 4
        const t = normal ? ops.randn(be, [100003], rng) : ops.randUniform(be, [100003], rng);
        return t.toArray();
      });
    assert.deepEqual(draw(cuda!, false), draw(cpu, false));
    expectClose("normals", draw(cuda!, true), draw(cpu, true), 1e-6);
  },
});

Deno.test({
  name: `cuda parity: countErrors, and the fused Adam over many tensors${skip}`,
  ignore: !gpu,
  fn() {
    const logits = randomArray(5000 * 10, rand);
    const labels = Float64Array.from({ length: 5000 }, (_, i) => (i * 3) % 10);
    const count = (be: Backend) =>
      scope(() =>
        ops.countErrors(Tensor.from(be, logits, [5000, 10]), Tensor.from(be, labels, [5000])).item()
      );
    assert.equal(count(cuda!), count(cpu));

    // 70 tensors, some larger than one Adam chunk, stepped 3 times with fresh gradients.
    const sizes = Array.from({ length: 70 }, (_, i) => (i % 7 === 0 ? 300001 + i : 1 + i * 37));
    const init = sizes.map((n) => randomArray(n, rand));
    const grads = [0, 1, 2].map(() => sizes.map((n) => randomArray(n, rand)));
    const train = (be: Backend) => {
      const params = init.map((d, i) => {
        return Tensor.from(be, d, [sizes[i]]);
      });
      const opt = new Adam(params, { lr: 1e-2, weightDecay: 1e-4 });
      for (const step of grads) {
        params.forEach((p, i) => {
          p.grad?.dispose();
          p.grad = Tensor.from(be, step[i], [sizes[i]]);
          p.gradReady = true;
        });
        opt.update();
      }
      return params.map((p) => p.toArray());
    };
    const want = train(cpu);
    train(cuda!).forEach((got, i) => expectClose(`Adam tensor ${i}`, got, want[i], 1e-6));
  },
});

Deno.test({
  name: `cuda: after the first steps a training step calls no cudaMalloc${skip}`,
  ignore: !gpu,
  fn() {
    const be = cuda!;
    const rng = new Rng(3);
    const net = convLarge(be, rng, { inChannels: 3, classes: 10 });
    const opt = new Adam(net.parameters());
    const x = Tensor.from(be, randomArray(32 * 3 * 32 * 32, rand), [32, 3, 32, 32]);
    const y = Tensor.from(be, Float64Array.from({ length: 32 }, (_, i) => i % 10), [32]);
    const step = () =>
      scope(() => {
        opt.zeroGrad();
        const logits = net.forward(x);
        const vat = vatLoss(net, x, logits, rng, { eps: 8, xi: 1e-6, iterations: 1 });
        backward(ops.add(ops.crossEntropy(logits, y), vat), { into: net.parameters() });
        opt.update();
        be.synchronize();
      });
    step();
    step();
    const before = be.mallocCount();
    for (let i = 0; i < 3; i++) step();
    assert.equal(be.mallocCount(), before, "cudaMalloc was called during a later step");
  },
});

Deno.test({
  name: `cuda: running out of device memory is a clear error, and the backend still works${skip}`,
  ignore: !gpu,
  fn() {
    const be = cuda!;
    const huge = 2 ** 31 - 1; // elements: 8 GiB, times 64 below is more than any GPU holds
    const held: ReturnType<Backend["alloc"]>[] = [];
    try {
      assert.throws(() => {
        for (let i = 0; i < 64; i++) held.push(be.alloc(huge));
      }, /Cannot allocate \d+ bytes on the cuda backend: .*out of device memory/);
    } finally {
      for (const s of held) be.free(s);
      be.trim();
    }
    const t = Tensor.from(be, [1, 2, 3], [3]);
    assert.deepEqual([...ops.sum(t).toArray()], [6]);
    t.dispose();
  },
});
