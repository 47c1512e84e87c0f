/**
 * The op cases that both the float64 gradient checks (ops_grad_test.ts) and
 * the GPU parity tests (cuda_parity_test.ts) run: every differentiable op on
 * shapes with odd sizes, batch 1, strides 1 and 2 and padding 0 and 1, plus
 * random convolution geometries. A case gives host inputs and a function of
 * tensors; the caller's `check` decides what to compare.
 */
import type { Backend } from "../src/backend/backend.ts";
import type { Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { mulberry32, randomArray } from "./gradcheck.ts";

/** One input of a case: host numbers, a shape, and whether it gets a gradient. */
export interface CaseInput {
  data: ArrayLike<number>;
  shape: number[];
  grad?: boolean;
}

/** What a suite does with one case. `samples` caps the elements a slow check looks at. */
export type Check = (
  name: string,
  inputs: CaseInput[],
  f: (xs: Tensor[]) => Tensor,
  opts?: { samples?: number },
) => void;

/** A group of cases, run as one test. */
export interface OpGroup {
  name: string;
  run(check: Check): void;
}

const rand = mulberry32(42);
const input = (shape: number[], lo = -1, hi = 1, grad = true): CaseInput => ({
  data: randomArray(shape.reduce((a, b) => a * b, 1), rand, lo, hi),
  shape,
  grad,
});

/** Every group, in order. */
export const OP_GROUPS: OpGroup[] = [
  {
    name: "matmul",
    run(check: Check) {
      check("matmul 3x5x4", [input([3, 5]), input([5, 4])], ([a, b]) => ops.matmul(a, b));
      check("matmul 1x7x1", [input([1, 7]), input([7, 1])], ([a, b]) => ops.matmul(a, b));
    },
  },

  {
    name: "linear",
    run(check: Check) {
      check(
        "linear",
        [input([4, 7]), input([5, 7]), input([5])],
        ([x, w, b]) => ops.linear(x, w, b),
      );
      check(
        "linear batch 1",
        [input([1, 3]), input([2, 3]), input([2])],
        ([x, w, b]) => ops.linear(x, w, b),
      );
      check(
        "linear no bias, 4-d input",
        [input([2, 3, 2, 2]), input([4, 12])],
        ([x, w]) => ops.linear(x, w),
      );
    },
  },

  {
    name: "bias add",
    run(check: Check) {
      check("biasAdd nchw", [input([2, 3, 4, 5]), input([3])], ([x, b]) => ops.biasAdd(x, b));
      check("biasAdd nc", [input([1, 3]), input([3])], ([x, b]) => ops.biasAdd(x, b));
    },
  },

  {
    name: "broadcasting add, sub, mul, div",
    run(check: Check) {
      for (const op of ["add", "sub", "mul", "div"] as const) {
        const f = ops[op];
        check(`${op} same shape`, [input([3, 5]), input([3, 5], 0.5, 2)], ([a, b]) => f(a, b));
        check(
          `${op} (2,3,4)x(3,1)`,
          [input([2, 3, 4]), input([3, 1], 0.5, 2)],
          ([a, b]) => f(a, b),
        );
        check(`${op} (1,3)x(4,1)`, [input([1, 3]), input([4, 1], 0.5, 2)], ([a, b]) => f(a, b));
        check(`${op} (3)x(2,3)`, [input([3]), input([2, 3], 0.5, 2)], ([a, b]) => f(a, b));
      }
      check("mul x*x", [input([4])], ([a]) => ops.mul(a, a));
    },
  },

  {
    name: "affine and scale",
    run(check: Check) {
      check("affine", [input([3, 4])], ([x]) => ops.affine(x, -1.7, 0.3));
      check("scale", [input([5])], ([x]) => ops.scale(x, 2.5));
    },
  },

  {
    name: "activations",
    run(check: Check) {
      check("relu", [input([3, 7], -2, 2)], ([x]) => ops.relu(x));
      check("leaky relu 0.1", [input([3, 7], -2, 2)], ([x]) => ops.leakyRelu(x));
      check("leaky relu 0.2", [input([1, 5], -2, 2)], ([x]) => ops.leakyRelu(x, 0.2));
      check("sigmoid", [input([2, 9], -4, 4)], ([x]) => ops.sigmoid(x));
      check("tanh", [input([2, 9], -3, 3)], ([x]) => ops.tanh(x));
    },
  },

  {
    name: "dropout and gaussian noise (fixed seeds)",
    run(check: Check) {
      check("dropout", [input([4, 9])], ([x]) => ops.dropout(x, 0.3, new Rng(7)));
      check("gaussian noise", [input([3, 5])], ([x]) => ops.gaussianNoise(x, 0.5, new Rng(8)));
    },
  },

  {
    name: "conv2d",
    run(check: Check) {
      const cases: [number[], number[], number | [number, number], number | [number, number]][] = [
        [[1, 1, 5, 5], [2, 1, 3, 3], 1, 0],
        [[2, 3, 7, 6], [4, 3, 3, 3], 2, 1],
        [[3, 2, 6, 5], [3, 2, 1, 1], 1, 0],
        [[2, 2, 5, 7], [3, 2, 5, 5], 1, 1],
        [[1, 2, 6, 7], [2, 2, 3, 2], [2, 1], [0, 1]],
        [[2, 1, 8, 8], [2, 1, 4, 4], 2, 1],
      ];
      for (const [xs, ws, stride, padding] of cases) {
        check(`conv2d x[${xs}] w[${ws}] s${stride} p${padding}`, [
          input(xs),
          input(ws),
          input([ws[0]]),
        ], ([x, w, b]) => ops.conv2d(x, w, b, { stride, padding }));
      }
    },
  },

  {
    name: "transposed conv2d",
    run(check: Check) {
      const cases: [number[], number[], number, number, number][] = [
        [[1, 2, 3, 3], [2, 3, 3, 3], 1, 0, 0],
        [[2, 3, 4, 3], [3, 2, 3, 3], 2, 1, 1],
        [[2, 2, 3, 4], [2, 2, 4, 4], 2, 1, 0],
        [[1, 3, 5, 5], [3, 1, 1, 1], 1, 0, 0],
        [[2, 1, 3, 3], [1, 2, 5, 5], 2, 2, 1],
      ];
      for (const [xs, ws, stride, padding, outputPadding] of cases) {
        check(`convTranspose2d x[${xs}] w[${ws}] s${stride} p${padding} op${outputPadding}`, [
          input(xs),
          input(ws),
          input([ws[1]]),
        ], ([x, w, b]) => ops.convTranspose2d(x, w, b, { stride, padding, outputPadding }));
      }
    },
  },

  {
    name: "pooling",
    run(check: Check) {
      check("maxpool k2 s2", [input([2, 3, 5, 5])], ([x]) => ops.maxPool2d(x, { kernel: 2 }));
      check(
        "maxpool k3 s2 p1",
        [input([1, 2, 7, 6])],
        ([x]) => ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }),
      );
      check(
        "maxpool k2 s1",
        [input([2, 1, 4, 4])],
        ([x]) => ops.maxPool2d(x, { kernel: 2, stride: 1 }),
      );
      check("global avg pool", [input([3, 2, 5, 4])], ([x]) => ops.globalAvgPool2d(x));
    },
  },

  {
    name: "batch norm, training and inference",
    run(check: Check) {
      const state = (on: Backend, c: number) => ({
        runningMean: ops.randUniform(on, [c], new Rng(3), -0.5, 0.5),
        runningVar: ops.randUniform(on, [c], new Rng(4), 0.5, 1.5),
        momentum: 0.1,
        eps: 1e-5,
      });
      for (const shape of [[5, 4], [2, 3, 4, 3], [1, 2, 3, 3], [2, 1], [4, 70]]) {
        const c = shape[1];
        for (const training of [true, false]) {
          check(`batchNorm [${shape}] ${training ? "train" : "infer"}`, [
            input(shape, -2, 2),
            input([c], 0.5, 1.5),
            input([c]),
          ], ([x, g, b]) => ops.batchNorm(x, g, b, state(x.backend, c), training, false));
        }
      }
    },
  },

  {
    name: "softmax and log-softmax",
    run(check: Check) {
      check("softmax", [input([4, 5], -3, 3)], ([x]) => ops.softmax(x));
      check("log-softmax", [input([4, 5], -3, 3)], ([x]) => ops.logSoftmax(x));
      check("softmax batch 1", [input([1, 3], -3, 3)], ([x]) => ops.softmax(x));
    },
  },

  {
    name: "cross-entropy, KL divergence, squared error",
    run(check: Check) {
      const labels = { data: [0, 3, 1, 2, 3], shape: [5], grad: false };
      check("cross-entropy", [input([5, 4], -3, 3), labels], ([x, y]) => ops.crossEntropy(x, y));
      check("entropy", [input([5, 4], -3, 3)], ([x]) => ops.entropy(x));
      check(
        "KL both",
        [input([4, 6], -3, 3), input([4, 6], -3, 3)],
        ([a, b]) => ops.klDivergence(a, b),
      );
      check(
        "KL batch 1",
        [input([1, 3], -3, 3), input([1, 3], -3, 3)],
        ([a, b]) => ops.klDivergence(a, b),
      );
      for (const r of ["mean", "batchmean", "sum"] as const) {
        check(
          `squared error ${r}`,
          [input([3, 2, 2]), input([3, 2, 2])],
          ([a, b]) => ops.squaredError(a, b, r),
        );
      }
    },
  },

  {
    name: "sum, mean, L2 normalisation, concat, slices, reshape",
    run(check: Check) {
      check("sum", [input([3, 4])], ([x]) => ops.sum(x));
      check("mean", [input([7])], ([x]) => ops.mean(x));
      check("l2Normalize rows", [input([3, 5])], ([x]) => ops.l2Normalize(x));
      check("l2Normalize images", [input([1, 2, 3, 3])], ([x]) => ops.l2Normalize(x));
      check("concat features", [input([2, 3]), input([2, 2])], ([a, b]) => ops.concat([a, b]));
      check(
        "concat channels",
        [input([2, 1, 3, 3]), input([2, 2, 3, 3]), input([2, 1, 3, 3])],
        ([a, b, c]) => ops.concat([a, b, c]),
      );
      check("reshape", [input([2, 3, 4])], ([x]) => ops.reshape(x, [6, -1]));
      check(
        "concatRows",
        [input([2, 1, 2, 2]), input([3, 1, 2, 2])],
        ([a, b]) => ops.concatRows([a, b]),
      );
      check("sliceRows", [input([5, 3])], ([x]) => ops.sliceRows(x, 1, 3));
      // Both halves of one tensor: the second slice accumulates into the first's gradient.
      check(
        "sliceRows twice",
        [input([4, 2])],
        ([x]) => ops.mul(ops.sliceRows(x, 0, 2), ops.sliceRows(x, 2, 2)),
      );
    },
  },

  {
    name: "a composed network: conv, batch norm, leaky relu, pool, linear, KL",
    run(check: Check) {
      check("composite", [
        input([2, 2, 6, 6]),
        input([3, 2, 3, 3]),
        input([3], 0.5, 1.5),
        input([3]),
        input([4, 27]),
        input([2, 4]),
      ], ([x, w, g, b, w2, a]) => {
        const st = {
          runningMean: ops.randUniform(x.backend, [3], new Rng(1)),
          runningVar: ops.randUniform(x.backend, [3], new Rng(2), 1, 2),
          momentum: 0.1,
          eps: 1e-5,
        };
        let h = ops.conv2d(x, w, null, { padding: 1 });
        h = ops.leakyRelu(ops.batchNorm(h, g, b, st, true, false));
        h = ops.maxPool2d(h, { kernel: 2 });
        const logits = ops.linear(h, w2);
        return ops.klDivergence(a, logits);
      });
    },
  },

  {
    name: "convolutions and pooling on random geometries",
    run(check: Check) {
      const r = mulberry32(7);
      const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
      for (let i = 0; i < 12; i++) {
        const [n, c, k] = [int(1, 3), int(1, 3), int(1, 4)];
        const [kh, kw] = [int(1, 4), int(1, 4)];
        const [stride, padding] = [int(1, 2), int(0, 1)];
        const [h, w] = [int(kh, 8), int(kw, 8)];
        check(
          `conv2d x[${n},${c},${h},${w}] w[${k},${c},${kh},${kw}] s${stride} p${padding}`,
          [input([n, c, h, w]), input([k, c, kh, kw]), input([k])],
          ([x, wt, b]) => ops.conv2d(x, wt, b, { stride, padding }),
          { samples: 20 },
        );
        const outputPadding = stride > 1 ? int(0, 1) : 0;
        check(
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
        check(
          `maxPool2d x[${n},${c},${h},${w}] ${JSON.stringify(pool)}`,
          [input([n, c, h, w])],
          ([x]) => ops.maxPool2d(x, pool),
          { samples: 20 },
        );
      }
    },
  },
];
