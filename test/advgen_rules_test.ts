/**
 * The rules of the game in the paper's method (src/methods/advgen.ts), each
 * pinned by a test that fails when the rule is broken: the encoder learns
 * from the reconstruction loss alone, the classifier step leaves G untouched,
 * the warm-up skips the classifier, and the passes through C on perturbed
 * or unlabelled inputs leave batch-norm running statistics alone.
 */
import assert from "node:assert/strict";
import { noGrad } from "../src/autograd/tape.ts";
import { scope } from "../src/autograd/tensor.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { AdvGen, type AdvGenOptions, copyState } from "../src/methods/advgen.ts";
import type { Batch } from "../src/methods/method.ts";
import { mlpGenerator } from "../src/models/generator.ts";
import { mlp } from "../src/models/mlp.ts";
import type { Module } from "../src/nn/module.ts";
import { Adam } from "../src/nn/optim.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Tensor } from "../src/autograd/tensor.ts";

const be = await createCpuBackend("f32");

const OPTIONS: AdvGenOptions = {
  alpha: 1,
  lambda: 1,
  entminWeight: 0,
  gSteps: 1,
  differentiated: true,
  gWarmup: 0,
  reconReduction: "batchmean",
  ema: 0,
  gKlWeight: "mean",
};

/** A classifier with batch norm, a generator, their Adams, and a batch; all from fixed seeds. */
function game(options: Partial<AdvGenOptions> = {}) {
  const rng = new Rng(11);
  const classifier = mlp(be, rng.fork(), [2, 16, 16, 2], true);
  const generator = mlpGenerator(be, rng.fork(), 2, [16], 4, {
    zDim: 3,
    output: { mode: "residual", center: false },
  });
  const method = new AdvGen(
    classifier,
    generator,
    new Adam(classifier.parameters(), { lr: 1e-2 }),
    new Adam(generator.parameters(), { lr: 1e-2 }),
    { ...OPTIONS, ...options },
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
