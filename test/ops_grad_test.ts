/**
 * Every differentiable op against central finite differences in float64, on
 * shapes with odd sizes, batch 1, strides 1 and 2 and padding 0 and 1.
 */
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { f64, gradCheck, mulberry32, randomArray } from "./gradcheck.ts";

const be = await f64();
const rand = mulberry32(42);
const input = (shape: number[], lo = -1, hi = 1, grad = true) => ({
  data: randomArray(shape.reduce((a, b) => a * b, 1), rand, lo, hi),
  shape,
  grad,
});

Deno.test("matmul", () => {
  gradCheck(be, "matmul 3x5x4", [input([3, 5]), input([5, 4])], ([a, b]) => ops.matmul(a, b));
  gradCheck(be, "matmul 1x7x1", [input([1, 7]), input([7, 1])], ([a, b]) => ops.matmul(a, b));
});

Deno.test("linear", () => {
  gradCheck(
    be,
    "linear",
    [input([4, 7]), input([5, 7]), input([5])],
    ([x, w, b]) => ops.linear(x, w, b),
  );
  gradCheck(
    be,
    "linear batch 1",
    [input([1, 3]), input([2, 3]), input([2])],
    ([x, w, b]) => ops.linear(x, w, b),
  );
  gradCheck(
    be,
    "linear no bias, 4-d input",
    [input([2, 3, 2, 2]), input([4, 12])],
    ([x, w]) => ops.linear(x, w),
  );
});

Deno.test("bias add", () => {
  gradCheck(be, "biasAdd nchw", [input([2, 3, 4, 5]), input([3])], ([x, b]) => ops.biasAdd(x, b));
  gradCheck(be, "biasAdd nc", [input([1, 3]), input([3])], ([x, b]) => ops.biasAdd(x, b));
});

Deno.test("broadcasting add, sub, mul, div", () => {
  for (const op of ["add", "sub", "mul", "div"] as const) {
    const f = ops[op];
    gradCheck(be, `${op} same shape`, [input([3, 5]), input([3, 5], 0.5, 2)], ([a, b]) => f(a, b));
    gradCheck(
      be,
      `${op} (2,3,4)x(3,1)`,
      [input([2, 3, 4]), input([3, 1], 0.5, 2)],
      ([a, b]) => f(a, b),
    );
    gradCheck(be, `${op} (1,3)x(4,1)`, [input([1, 3]), input([4, 1], 0.5, 2)], ([a, b]) => f(a, b));
    gradCheck(be, `${op} (3)x(2,3)`, [input([3]), input([2, 3], 0.5, 2)], ([a, b]) => f(a, b));
  }
  gradCheck(be, "mul x*x", [input([4])], ([a]) => ops.mul(a, a));
});

Deno.test("affine and scale", () => {
  gradCheck(be, "affine", [input([3, 4])], ([x]) => ops.affine(x, -1.7, 0.3));
  gradCheck(be, "scale", [input([5])], ([x]) => ops.scale(x, 2.5));
});

Deno.test("activations", () => {
  gradCheck(be, "relu", [input([3, 7], -2, 2)], ([x]) => ops.relu(x));
  gradCheck(be, "leaky relu 0.1", [input([3, 7], -2, 2)], ([x]) => ops.leakyRelu(x));
  gradCheck(be, "leaky relu 0.2", [input([1, 5], -2, 2)], ([x]) => ops.leakyRelu(x, 0.2));
  gradCheck(be, "sigmoid", [input([2, 9], -4, 4)], ([x]) => ops.sigmoid(x));
  gradCheck(be, "tanh", [input([2, 9], -3, 3)], ([x]) => ops.tanh(x));
});

Deno.test("dropout and gaussian noise (fixed seeds)", () => {
  gradCheck(be, "dropout", [input([4, 9])], ([x]) => ops.dropout(x, 0.3, new Rng(7)));
  gradCheck(be, "gaussian noise", [input([3, 5])], ([x]) => ops.gaussianNoise(x, 0.5, new Rng(8)));
});

Deno.test("conv2d", () => {
  const cases: [number[], number[], number | [number, number], number | [number, number]][] = [
    [[1, 1, 5, 5], [2, 1, 3, 3], 1, 0],
    [[2, 3, 7, 6], [4, 3, 3, 3], 2, 1],
    [[3, 2, 6, 5], [3, 2, 1, 1], 1, 0],
    [[2, 2, 5, 7], [3, 2, 5, 5], 1, 1],
    [[1, 2, 6, 7], [2, 2, 3, 2], [2, 1], [0, 1]],
    [[2, 1, 8, 8], [2, 1, 4, 4], 2, 1],
  ];
  for (const [xs, ws, stride, padding] of cases) {
    gradCheck(
      be,
      `conv2d x[${xs}] w[${ws}] s${stride} p${padding}`,
      [input(xs), input(ws), input([ws[0]])],
      ([x, w, b]) => ops.conv2d(x, w, b, { stride, padding }),
    );
  }
});

Deno.test("transposed conv2d", () => {
  const cases: [number[], number[], number, number, number][] = [
    [[1, 2, 3, 3], [2, 3, 3, 3], 1, 0, 0],
    [[2, 3, 4, 3], [3, 2, 3, 3], 2, 1, 1],
    [[2, 2, 3, 4], [2, 2, 4, 4], 2, 1, 0],
    [[1, 3, 5, 5], [3, 1, 1, 1], 1, 0, 0],
    [[2, 1, 3, 3], [1, 2, 5, 5], 2, 2, 1],
  ];
  for (const [xs, ws, stride, padding, outputPadding] of cases) {
    gradCheck(
      be,
      `convTranspose2d x[${xs}] w[${ws}] s${stride} p${padding} op${outputPadding}`,
      [input(xs), input(ws), input([ws[1]])],
      ([x, w, b]) => ops.convTranspose2d(x, w, b, { stride, padding, outputPadding }),
    );
  }
});

Deno.test("pooling", () => {
  gradCheck(be, "maxpool k2 s2", [input([2, 3, 5, 5])], ([x]) => ops.maxPool2d(x, { kernel: 2 }));
  gradCheck(
    be,
    "maxpool k3 s2 p1",
    [input([1, 2, 7, 6])],
    ([x]) => ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }),
  );
  gradCheck(
    be,
    "maxpool k2 s1",
    [input([2, 1, 4, 4])],
    ([x]) => ops.maxPool2d(x, { kernel: 2, stride: 1 }),
  );
  gradCheck(be, "global avg pool", [input([3, 2, 5, 4])], ([x]) => ops.globalAvgPool2d(x));
});

Deno.test("batch norm, training and inference", () => {
  const state = (c: number) => ({
    runningMean: ops.randUniform(be, [c], new Rng(3), -0.5, 0.5),
    runningVar: ops.randUniform(be, [c], new Rng(4), 0.5, 1.5),
    momentum: 0.1,
    eps: 1e-5,
  });
  for (const shape of [[5, 4], [2, 3, 4, 3], [1, 2, 3, 3], [2, 1], [4, 70]]) {
    const c = shape[1];
    for (const training of [true, false]) {
      gradCheck(
        be,
        `batchNorm [${shape}] ${training ? "train" : "infer"}`,
        [input(shape, -2, 2), input([c], 0.5, 1.5), input([c])],
        ([x, g, b]) => ops.batchNorm(x, g, b, state(c), training, false),
      );
    }
  }
});

Deno.test("softmax and log-softmax", () => {
  gradCheck(be, "softmax", [input([4, 5], -3, 3)], ([x]) => ops.softmax(x));
  gradCheck(be, "log-softmax", [input([4, 5], -3, 3)], ([x]) => ops.logSoftmax(x));
  gradCheck(be, "softmax batch 1", [input([1, 3], -3, 3)], ([x]) => ops.softmax(x));
});

Deno.test("cross-entropy, KL divergence, squared error", () => {
  const labels = { data: [0, 3, 1, 2, 3], shape: [5], grad: false };
  gradCheck(
    be,
    "cross-entropy",
    [input([5, 4], -3, 3), labels],
    ([x, y]) => ops.crossEntropy(x, y),
  );
  gradCheck(
    be,
    "KL both",
    [input([4, 6], -3, 3), input([4, 6], -3, 3)],
    ([a, b]) => ops.klDivergence(a, b),
  );
  gradCheck(
    be,
    "KL batch 1",
    [input([1, 3], -3, 3), input([1, 3], -3, 3)],
    ([a, b]) => ops.klDivergence(a, b),
  );
  for (const r of ["mean", "batchmean", "sum"] as const) {
    gradCheck(
      be,
      `squared error ${r}`,
      [input([3, 2, 2]), input([3, 2, 2])],
      ([a, b]) => ops.squaredError(a, b, r),
    );
  }
});

Deno.test("sum, mean, L2 normalisation, concat, reshape", () => {
  gradCheck(be, "sum", [input([3, 4])], ([x]) => ops.sum(x));
  gradCheck(be, "mean", [input([7])], ([x]) => ops.mean(x));
  gradCheck(be, "l2Normalize rows", [input([3, 5])], ([x]) => ops.l2Normalize(x));
  gradCheck(be, "l2Normalize images", [input([1, 2, 3, 3])], ([x]) => ops.l2Normalize(x));
  gradCheck(be, "concat features", [input([2, 3]), input([2, 2])], ([a, b]) => ops.concat([a, b]));
  gradCheck(
    be,
    "concat channels",
    [input([2, 1, 3, 3]), input([2, 2, 3, 3]), input([2, 1, 3, 3])],
    ([a, b, c]) => ops.concat([a, b, c]),
  );
  gradCheck(be, "reshape", [input([2, 3, 4])], ([x]) => ops.reshape(x, [6, -1]));
});

Deno.test("a composed network: conv, batch norm, leaky relu, pool, linear, KL", () => {
  gradCheck(
    be,
    "composite",
    [
      input([2, 2, 6, 6]),
      input([3, 2, 3, 3]),
      input([3], 0.5, 1.5),
      input([3]),
      input([4, 27]),
      input([2, 4]),
    ],
    ([x, w, g, b, w2, a]) => {
      const st = {
        runningMean: ops.randUniform(be, [3], new Rng(1)),
        runningVar: ops.randUniform(be, [3], new Rng(2), 1, 2),
        momentum: 0.1,
        eps: 1e-5,
      };
      let h = ops.conv2d(x, w, null, { padding: 1 });
      h = ops.leakyRelu(ops.batchNorm(h, g, b, st, true, false));
      h = ops.maxPool2d(h, { kernel: 2 });
      const logits = ops.linear(h, w2);
      return ops.klDivergence(a, logits);
    },
  );
});

Deno.test("convolutions and pooling on random geometries", () => {
  const r = mulberry32(7);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  for (let i = 0; i < 12; i++) {
    const [n, c, k] = [int(1, 3), int(1, 3), int(1, 4)];
    const [kh, kw] = [int(1, 4), int(1, 4)];
    const [stride, padding] = [int(1, 2), int(0, 1)];
    const [h, w] = [int(kh, 8), int(kw, 8)];
    gradCheck(
      be,
      `conv2d x[${n},${c},${h},${w}] w[${k},${c},${kh},${kw}] s${stride} p${padding}`,
      [input([n, c, h, w]), input([k, c, kh, kw]), input([k])],
      ([x, wt, b]) => ops.conv2d(x, wt, b, { stride, padding }),
      { samples: 20 },
    );
    const outputPadding = stride > 1 ? int(0, 1) : 0;
    gradCheck(
      be,
      `convTranspose2d x[${n},${k},${h},${w}] w[${k},${c},${kh},${kw}] s${stride} p${padding} op${outputPadding}`,
      [input([n, k, h, w]), input([k, c, kh, kw]), input([c])],
      ([x, wt, b]) => ops.convTranspose2d(x, wt, b, { stride, padding, outputPadding }),
      { samples: 20 },
    );
    const pool = {
      kernel: [kh, kw] as [number, number],
      stride,
      padding: [Math.min(padding, kh >> 1), Math.min(padding, kw >> 1)] as [number, number],
    };
    gradCheck(
      be,
      `maxPool2d x[${n},${c},${h},${w}] ${JSON.stringify(pool)}`,
      [input([n, c, h, w])],
      ([x]) => ops.maxPool2d(x, pool),
      { samples: 20 },
    );
  }
});
