/**
 * The rules of the game in the paper's method (src/methods/advgen.ts), each
 * pinned by a test that fails when the rule is broken: the encoder learns
 * from the reconstruction loss alone, the classifier step leaves G untouched,
 * the warm-up skips the classifier, and the passes through C on perturbed
 * or unlabelled inputs leave batch-norm running statistics alone; and the
 * leads' rules (dual ascent, the agreement loss, the latent shift, the EMA
 * target, VAT's term beside G's).
 */
import assert from "node:assert/strict";
import { grad, noGrad } from "../src/autograd/tape.ts";
import { scope } from "../src/autograd/tensor.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import {
  AdvGen,
  type AdvGenOptions,
  agreementLoss,
  LITERAL_ADVGEN,
  randomOfSameNorm,
} from "../src/methods/advgen.ts";
import { type Batch, unlabelledOf } from "../src/methods/method.ts";
import { type GeneratorOutput, mlpGenerator } from "../src/models/generator.ts";
import { mlp } from "../src/models/mlp.ts";
import {
  recordBatchNormStats,
  replayBatchNormStats,
  withFrozenBatchNormStats,
  withRunningBatchNormStats,
} from "../src/nn/layers.ts";
import { copyState, WeightAverage } from "../src/nn/average.ts";
import type { Module } from "../src/nn/module.ts";
import { Adam } from "../src/nn/optim.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Tensor } from "../src/autograd/tensor.ts";

const be = await createCpuBackend("f32");

const OPTIONS: AdvGenOptions = LITERAL_ADVGEN;

/** A classifier with batch norm, a generator, their Adams, and a batch; all from fixed seeds. */
function game(
  options: Partial<AdvGenOptions> & { ema?: number } = {},
  output: GeneratorOutput = { mode: "residual", center: false },
) {
  const { ema = 0, ...rules } = options;
  const rng = new Rng(11);
  const classifier = mlp(be, rng.fork(), [2, 16, 16, 2], true);
  const generator = mlpGenerator(be, rng.fork(), 2, [16], 4, { zDim: 3, output });
  const method = new AdvGen(
    classifier,
    generator,
    new Adam(classifier.parameters(), { lr: 1e-2 }),
    new Adam(generator.parameters(), { lr: 1e-2 }),
    { ...OPTIONS, ...rules },
    {
      ...(options.consistency === "random" ? { controlRng: new Rng(77) } : {}),
      ...((options.vatWeight ?? 0) > 0 ? { vatRng: new Rng(78) } : {}),
      ...(ema > 0
        ? {
          average: new WeightAverage(classifier, mlp(be, new Rng(79), [2, 16, 16, 2], true), ema),
        }
        : {}),
    },
  );
  const data = rng.fork();
  const batch: Batch = {
    xl: ops.randn(be, [8, 2], data),
    yl: Tensor.from(be, [0, 1, 0, 1, 0, 1, 0, 1], [8]),
    // Far from the labelled points, so statistics moved by them would show.
    xul: ops.affine(ops.randn(be, [32, 2], data), 3, 5),
  };
  return { method, classifier, generator, batch };
}

/** Host copies of a module's parameters, or of its buffers (running statistics). */
const params = (m: Module) => m.namedParameters().map(([n, t]) => [n, Array.from(t.toArray())]);
const buffers = (m: Module) => m.namedBuffers().map(([n, t]) => [n, Array.from(t.toArray())]);

Deno.test("advgen rules: the encoder learns from the reconstruction loss alone", () => {
  scope(() => {
    // Two games that differ only in alpha: one iteration later the encoders are the same
    // (their gradient is lambda L_rec's) and the decoders are not.
    const a = game({ alpha: 1 }), b = game({ alpha: 50 });
    a.method.step(a.batch, 0);
    b.method.step(b.batch, 0);
    assert.deepEqual(params(a.generator.encoder), params(b.generator.encoder));
    assert.notDeepEqual(params(a.generator.decoder), params(b.generator.decoder));
    // The control: without differentiated responsibilities alpha reaches the encoder.
    const c = game({ alpha: 1, differentiated: false });
    const d = game({ alpha: 50, differentiated: false });
    c.method.step(c.batch, 0);
    d.method.step(d.batch, 0);
    assert.notDeepEqual(params(c.generator.encoder), params(d.generator.encoder));
  });
});

Deno.test("advgen rules: with a normalized step, L_rec is constant and the encoder keeps its weights", () => {
  scope(() => {
    // L_rec = radius^2 for every x and z, so the encoder's gradient is zero: backpropagating
    // it anyway gave float32 noise that Adam scaled up to full-size steps of the encoder.
    const { method, generator, batch } = game({}, { mode: "normalized", center: true, radius: 2 });
    assert(generator.reconstructionConstant);
    const [encoder, decoder] = [params(generator.encoder), params(generator.decoder)];
    for (let i = 0; i < 5; i++) method.step(batch, i);
    assert.deepEqual(params(generator.encoder), encoder, "the encoder moved");
    assert.notDeepEqual(params(generator.decoder), decoder, "the decoder did not train");
    // Without differentiated responsibilities the attack trains the encoder too.
    const free = game(
      { differentiated: false },
      { mode: "normalized", center: true, radius: 2 },
    );
    const before = params(free.generator.encoder);
    free.method.step(free.batch, 0);
    assert.notDeepEqual(params(free.generator.encoder), before);
  });
});

Deno.test("advgen rules: the classifier step leaves G untouched", () => {
  scope(() => {
    const { method, classifier, generator, batch } = game();
    const [gParams, gBuffers, cParams] = [
      params(generator),
      buffers(generator),
      params(classifier),
    ];
    method.classifierStep(batch);
    assert.deepEqual(params(generator), gParams, "the classifier step moved G's weights");
    assert.deepEqual(buffers(generator), gBuffers);
    for (const p of generator.parameters()) {
      assert(!p.grad || p.grad.toArray().every((v) => v === 0), "C's loss reached G's gradients");
    }
    assert.notDeepEqual(params(classifier), cParams, "the classifier step did not train C");
  });
});

Deno.test("advgen rules: the warm-up trains G alone and skips the classifier", () => {
  scope(() => {
    const { method, classifier, generator, batch } = game({ gWarmup: 2 });
    const [cParams, cBuffers, gParams] = [
      params(classifier),
      buffers(classifier),
      params(generator),
    ];
    const metrics = method.step(batch, 0);
    assert.deepEqual(Object.keys(metrics), ["rec"]);
    assert.deepEqual(params(classifier), cParams, "C trained during the warm-up");
    assert.deepEqual(buffers(classifier), cBuffers, "C's statistics moved during the warm-up");
    assert.notDeepEqual(params(generator), gParams, "G did not learn to reconstruct");
    method.step(batch, 1);
    assert.deepEqual(params(classifier), cParams);
    method.step(batch, 2);
    assert.notDeepEqual(params(classifier), cParams, "C did not train after the warm-up");
  });
});

Deno.test("advgen rules: only the labelled pass moves C's batch-norm running statistics", () => {
  scope(() => {
    const { method, classifier, batch } = game();
    // The reference: the same classifier after one training-mode pass over the labelled batch.
    const reference = mlp(be, new Rng(99), [2, 16, 16, 2], true);
    copyState(classifier, reference);
    noGrad(() => reference.forward(batch.xl));
    method.classifierStep(batch);
    assert.deepEqual(buffers(classifier), buffers(reference));
    const after = buffers(classifier);
    method.generatorStep(batch.xul!, 0);
    assert.deepEqual(buffers(classifier), after, "G's step moved C's statistics");
  });
});

Deno.test("advgen rules: --joint-batch puts x and G(x, z) through C in one batch", () => {
  scope(() => {
    const { method, classifier, generator, batch } = game({ jointBatch: true });
    const xul = batch.xul!;
    const n = xul.shape[0];
    // The generated batch the step will see: the same z, from a copy of G's stream state.
    const state = generator.rng.exportState();
    const xg = noGrad(() => generator.forward(xul));
    generator.rng.importState(state);
    const fresh = mlp(be, new Rng(99), [2, 16, 16, 2], true);
    copyState(classifier, fresh);
    const joint = noGrad(() =>
      withFrozenBatchNormStats(() => fresh.forward(ops.concatRows([xul, xg])))
    );
    const apart = noGrad(() => withFrozenBatchNormStats(() => fresh.forward(xg)));
    const clean = ops.sliceRows(joint, 0, n);
    const expected = ops.klDivergence(clean, ops.sliceRows(joint, n, n)).item();
    const separate = ops.klDivergence(clean, apart).item();
    const adv = method.classifierStep(batch).adv.item();
    assert(Math.abs(adv - expected) <= 1e-5 * Math.abs(expected), `${adv} vs ${expected}`);
    // The control: normalised apart, the generated batch gives another KL.
    assert(Math.abs(separate - expected) > 1e-3 * Math.abs(expected), `${separate} vs ${expected}`);
  });
});

Deno.test("advgen rules: the random control keeps each sample's step norm, not its direction", () => {
  scope(() => {
    const rng = new Rng(5);
    const x = ops.randn(be, [64, 1, 4, 4], rng);
    const y = ops.add(x, ops.affine(ops.randn(be, [64, 1, 4, 4], rng), 0.5, 0.2));
    const r = randomOfSameNorm(x, y, new Rng(6));
    const [s, t] = [ops.flatten(ops.sub(y, x)).toArray(), ops.flatten(ops.sub(r, x)).toArray()];
    let cosines = 0;
    for (let i = 0; i < 64; i++) {
      let [ss, tt, st] = [0, 0, 0];
      for (let j = 0; j < 16; j++) {
        const [a, b] = [s[i * 16 + j], t[i * 16 + j]];
        [ss, tt, st] = [ss + a * a, tt + b * b, st + a * b];
      }
      assert(Math.abs(Math.sqrt(tt) - Math.sqrt(ss)) < 1e-5 * Math.sqrt(ss), `row ${i}`);
      cosines += st / Math.sqrt(ss * tt) / 64;
    }
    // G's steps here share a mean direction (cosine to it about 0.4); random ones do not.
    assert(Math.abs(cosines) < 0.1, `mean cosine ${cosines}`);
  });
});

Deno.test("advgen rules: with --consistency random C's step ignores G's direction", () => {
  scope(() => {
    // Two games whose generators step opposite ways (the decoder's last layer negated):
    // the same norms, opposite directions.
    const negate = (m: Module) => {
      for (const t of m.parameters().slice(-2)) {
        be.write(t.storage, Array.from(t.toArray(), (v) => -v));
      }
    };
    const trained = (consistency: AdvGenOptions["consistency"], flip: boolean) => {
      const g = game({ consistency });
      if (flip) negate(g.generator.decoder);
      g.method.classifierStep(g.batch);
      return params(g.classifier);
    };
    // (x + s) - x and (x - s) - x round differently, so the norms agree to float32's precision.
    const gap = (a: ReturnType<typeof params>, b: ReturnType<typeof params>) =>
      Math.max(
        ...a.flatMap(([, v], i) =>
          (v as number[]).map((x, j) => Math.abs(x - (b[i][1] as number[])[j]))
        ),
      );
    assert(gap(trained("random", false), trained("random", true)) < 1e-5);
    // The control: made consistent on G's examples, C learns from their direction.
    assert(gap(trained("generator", false), trained("generator", true)) > 1e-3);
    const { classifier, generator, method } = game();
    assert.throws(
      () =>
        new AdvGen(classifier, generator, method.optC, method.optG, {
          ...OPTIONS,
          consistency: "random",
        }),
      /random control/,
    );
  });
});

Deno.test("advgen rules: the agreement loss has the gradient of -log(1 - agreement)", async () => {
  const be64 = await createCpuBackend("f64");
  scope(() => {
    const rng = new Rng(3);
    const a = ops.randn(be64, [5, 4], rng);
    const b = ops.randn(be64, [5, 4], rng);
    b.requiresGrad = true;
    const [g] = grad(agreementLoss(a, b).loss, [b]);
    // -mean_i log(1 - sum_k p_ik q_ik), on the host in float64.
    const softmax = (row: number[]) => {
      const m = Math.max(...row), e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((x, y) => x + y);
      return e.map((v) => v / s);
    };
    const av = Array.from(a.toArray()), bv = Array.from(b.toArray());
    const f = (bs: number[]) => {
      let total = 0;
      for (let i = 0; i < 5; i++) {
        const p = softmax(av.slice(4 * i, 4 * i + 4)), q = softmax(bs.slice(4 * i, 4 * i + 4));
        total -= Math.log(1 - p.reduce((s, v, k) => s + v * q[k], 0));
      }
      return total / 5;
    };
    const h = 1e-6, gv = g.toArray();
    bv.forEach((_, j) => {
      const up = [...bv], down = [...bv];
      up[j] += h;
      down[j] -= h;
      assert(Math.abs((f(up) - f(down)) / (2 * h) - gv[j]) < 1e-7, `element ${j}`);
    });
  });
});

Deno.test("advgen rules: dual ascent moves lambda toward the reconstruction target, kept as state", () => {
  scope(() => {
    const lambdaAfter = (gRecTarget: number, steps: number) => {
      const { method, batch } = game({ gRecTarget, lambdaLr: 0.05, lambda: 1 });
      for (let i = 0; i < steps; i++) method.step(batch, i);
      assert.deepEqual(method.modules.dual.namedBuffers().map(([n]) => n), ["lambda"]);
      return method.dual!.value.toArray()[0];
    };
    // A residual G starts near x: L_rec is small, so a large target lowers lambda to 0 and stops;
    // a target of almost 0 is below L_rec, so lambda grows.
    assert.equal(lambdaAfter(100, 3), 0);
    assert(lambdaAfter(1e-6, 3) > 1);
    // Fixed lambda: no dual variable.
    assert.equal(game().method.dual, null);
  });
});

Deno.test("advgen rules: in latent mode the auto-encoder learns L_rec alone, the shift the attack", () => {
  scope(() => {
    const output: GeneratorOutput = { mode: "latent", center: false, radius: 0.5, shift: 0.3 };
    const a = game({ alpha: 1 }, output), b = game({ alpha: 50 }, output);
    a.method.step(a.batch, 0);
    b.method.step(b.batch, 0);
    assert.deepEqual(params(a.generator.encoder), params(b.generator.encoder));
    assert.deepEqual(params(a.generator.decoder), params(b.generator.decoder));
    assert.notDeepEqual(params(a.generator.shift!), params(b.generator.shift!));
    // The step has the radius, per sample.
    const x = a.batch.xul!;
    const step = noGrad(() => ops.sub(a.generator.forward(x), x)).toArray();
    for (let i = 0; i < x.shape[0]; i++) {
      assert(Math.abs(Math.hypot(step[2 * i], step[2 * i + 1]) - 0.5) < 1e-5);
    }
  });
});

Deno.test("advgen rules: G's EMA target needs the moving average, and changes G's step", () => {
  scope(() => {
    const { classifier, generator, method } = game();
    assert.throws(
      () =>
        new AdvGen(classifier, generator, method.optC, method.optG, {
          ...OPTIONS,
          gTarget: "ema",
        }),
      /moving average/,
    );
    // In a step C moves first, then the average, then G: the two games' Cs are still the same,
    // their Gs are not (one attacked C's prediction, the other the average's). After the first
    // step the average is C itself, so it takes two.
    const a = game({ ema: 0.5 }), b = game({ ema: 0.5, gTarget: "ema" });
    for (const i of [0, 1]) {
      a.method.step(a.batch, i);
      b.method.step(b.batch, i);
    }
    assert.deepEqual(params(a.classifier), params(b.classifier));
    assert.notDeepEqual(params(a.generator), params(b.generator));
  });
});

Deno.test("advgen rules: C's moving average is the mean of its steps until it reaches the decay", () => {
  scope(() => {
    const { method, classifier, batch } = game({ ema: 0.6 });
    const flat = (m: Module) => params(m).flatMap(([, v]) => v as number[]);
    const seen: number[][] = [];
    for (let i = 0; i < 4; i++) {
      method.step(batch, i);
      seen.push(flat(classifier));
    }
    // Decays 0, 1/2, then the 0.6 cap (1 - 1/3 = 0.67 is above it) from the third step on.
    let expected = seen[0].map((_, j) => (seen[0][j] + seen[1][j]) / 2);
    for (const w of seen.slice(2)) expected = expected.map((e, j) => 0.6 * e + 0.4 * w[j]);
    const got = flat(method.average!.module);
    got.forEach((v, j) =>
      assert(Math.abs(v - expected[j]) < 1e-5, `weight ${j}: ${v} against ${expected[j]}`)
    );
    assert.deepEqual(buffers(method.average!.module), buffers(classifier));
  });
});

Deno.test("advgen rules: VAT's term beside G's reaches C's step and is reported", () => {
  scope(() => {
    const a = game(), b = game({ vatWeight: 1, vatEps: 0.5 });
    const ma = a.method.step(a.batch, 0), mb = b.method.step(b.batch, 0);
    assert(!("vat" in ma) && "vat" in mb);
    assert.notDeepEqual(params(a.classifier), params(b.classifier));
    assert.deepEqual(Object.keys(b.method.rngs), ["generator", "vat"]);
  });
});

Deno.test("advgen rules: G's pass can take the clean pass's batch-norm statistics, or the running ones", () => {
  scope(() => {
    const c = mlp(be, new Rng(5), [2, 8, 2], true);
    const x = ops.randn(be, [16, 2], new Rng(6));
    const far = ops.affine(ops.randn(be, [16, 2], new Rng(7)), 3, 5);
    const before = buffers(c);
    // Replaying x's own statistics on x gives batch mode's output.
    const { result, stats } = recordBatchNormStats(() =>
      withFrozenBatchNormStats(() => c.forward(x))
    );
    const replayed = replayBatchNormStats(stats, () => c.forward(x));
    const [a, b] = [result.toArray(), replayed.toArray()];
    a.forEach((v, i) => assert(Math.abs(v - b[i]) < 1e-4, `element ${i}: ${v} against ${b[i]}`));
    // On another batch, x's statistics are not that batch's own.
    const own = withFrozenBatchNormStats(() => c.forward(far)).toArray();
    assert.notDeepEqual(
      Array.from(replayBatchNormStats(stats, () => c.forward(far)).toArray()),
      Array.from(own),
    );
    // Running statistics: the test-time output.
    const running = withRunningBatchNormStats(() => c.forward(far)).toArray();
    c.eval();
    assert.deepEqual(Array.from(running), Array.from(c.forward(far).toArray()));
    c.train();
    assert.deepEqual(buffers(c), before);
    assert.throws(() => replayBatchNormStats(new Map(), () => c.forward(x)), /recorded none/);
  });
});

Deno.test("advgen rules: --g-pass-stats changes C's step, and not with --joint-batch", () => {
  scope(() => {
    const after = (gPassStats: AdvGenOptions["gPassStats"]) => {
      const g = game({ gPassStats });
      g.method.step(g.batch, 0);
      return params(g.classifier);
    };
    const own = after("own");
    assert.notDeepEqual(after("clean"), own);
    assert.notDeepEqual(after("running"), own);
    assert.throws(() => game({ gPassStats: "clean", jointBatch: true }), /share one batch/);
  });
});

Deno.test("advgen rules: --step-order generator-first is G's step then C's, with one clean pass fewer", () => {
  scope(() => {
    /** A game whose classifier counts its forward passes. */
    const counted = (options: Partial<AdvGenOptions>) => {
      const g = game(options);
      const forward = g.classifier.forward.bind(g.classifier);
      const counter = { passes: 0 };
      g.classifier.forward = (x: Tensor) => {
        counter.passes++;
        return forward(x);
      };
      return { ...g, counter };
    };
    const weights = (g: ReturnType<typeof game>) => [params(g.classifier), params(g.generator)];
    // Where C's step needs a clean pass of its own (the statistics G's pass replays, one batch
    // with G's examples, EntMin's gradient), nothing is shared and nothing is saved.
    const cases: [Partial<AdvGenOptions>, number][] = [
      [{}, 1],
      [{ gPassStats: "running" }, 1],
      [{ gPassStats: "clean" }, 0],
      [{ jointBatch: true }, 0],
      [{ entminWeight: 1 }, 0],
    ];
    for (const [extra, saved] of cases) {
      const shared = counted({ ...extra, stepOrder: "generator-first" });
      shared.method.step(shared.batch, 0);
      // The same two updates, each taking its own clean pass.
      const apart = counted(extra);
      apart.method.generatorStep(unlabelledOf(apart.batch), 0);
      apart.method.classifierStep(apart.batch);
      assert.deepEqual(
        weights(shared),
        weights(apart),
        `${JSON.stringify(extra)}: not G's then C's`,
      );
      assert.equal(shared.counter.passes, apart.counter.passes - saved, JSON.stringify(extra));
    }
    const first = game();
    first.method.step(first.batch, 0);
    const second = game({ stepOrder: "generator-first" });
    second.method.step(second.batch, 0);
    assert.notDeepEqual(
      params(first.classifier),
      params(second.classifier),
      "the order changed nothing",
    );
  });
});
