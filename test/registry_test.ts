/**
 * The run registry: every preset is complete and holds only options that
 * apply to it, values convert under their specs, and a data set added as
 * one entry (here, in the test) trains through the command line.
 */
import assert from "node:assert/strict";
import { train } from "../src/cli/main.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { Tensor } from "../src/autograd/tensor.ts";
import { PointsSource } from "../src/data/points.ts";
import { randn, Rng } from "../src/ops/random.ts";
import { BUILTIN } from "../src/registry/mod.ts";
import type { DatasetEntry, Registry } from "../src/registry/registry.ts";
import { allPresets, fileValues, resolveRun, runTable } from "../src/registry/resolve.ts";
import { setup } from "../src/registry/setup.ts";
import { UserError } from "../src/util/errors.ts";
import { convert } from "../src/util/options.ts";

Deno.test("registry: every preset resolves to exactly its own values, each valid for its option", () => {
  const table = runTable(BUILTIN);
  for (const [name, preset] of allPresets(BUILTIN)) {
    assert.equal(preset.values.dataset, preset.dataset, `${name} names another data set`);
    const cfg = resolveRun(BUILTIN, { preset: name });
    const declared = { ...BUILTIN.base, ...preset.values };
    assert.deepEqual(
      Object.keys(cfg.values).sort(),
      Object.keys(declared).sort(),
      `${name}: the options that apply differ from the preset's`,
    );
    for (const [k, v] of Object.entries(declared)) {
      assert.deepEqual(convert(table.get(k)!.spec, v, `${k} of ${name}`), v);
    }
  }
});

Deno.test("registry: a run names its preset by <dataset>-<method>, and the default is circles-advgen", () => {
  assert.equal(resolveRun(BUILTIN, {}).preset, "circles-advgen");
  assert.equal(resolveRun(BUILTIN, { flags: { dataset: "mnist" } }).preset, "mnist-advgen");
  assert.equal(resolveRun(BUILTIN, { flags: { method: "vat" } }).preset, "circles-vat");
  const cfg = resolveRun(BUILTIN, { flags: { method: "vat", eps: 2 } });
  assert.equal(cfg.number("eps"), 2);
});

Deno.test("registry: a config file's keys are options, kebab-case or camelCase", () => {
  const f = fileValues(
    BUILTIN,
    { "ul-batch-size": 12, eps: "0.5", preset: "circles-vat" },
    "f.json",
  );
  assert.deepEqual(f.values, { ulBatchSize: 12, eps: 0.5 });
  assert.equal(resolveRun(BUILTIN, { file: f }).number("ulBatchSize"), 12);
  assert.throws(() => fileValues(BUILTIN, { epsilon: 1 }, "f.json"), UserError);
  assert.throws(
    () =>
      resolveRun(BUILTIN, {
        file: fileValues(BUILTIN, { method: "vat", lambda: 1 }, "f.json"),
      }),
    /Cannot use 'lambda' in f\.json: it applies to --method advgen, not vat/,
  );
});

/** Two Gaussian blobs in 3-D: the whole data set entry is these lines. */
const toy: DatasetEntry = {
  help: "two Gaussian blobs in 3-D, centred at -1 and +1",
  defaultMethod: "supervised",
  presets: {
    "toy-supervised": {
      description: "the blobs, labels only",
      values: {
        dataset: "toy",
        method: "supervised",
        model: "mlp",
        hidden: [8],
        batchNorm: false,
        labels: 8,
        iterations: 30,
        lr: 0.01,
        lrDecayStart: 1,
        beta1Decayed: 0.5,
        evalInterval: 30,
        checkpointInterval: 30,
        logInterval: 10,
      },
    },
  },
  load({ backend, cfg, rng, unlabelledBatch }) {
    const blobs = (n: number, r: Rng) => {
      const y = Array.from({ length: n }, (_, i) => i % 2);
      const x = randn(backend, [n, 3], r, 0.5).toArray().map((v, j) => v + 2 * y[(j / 3) | 0] - 1);
      return { x: Tensor.from(backend, x, [n, 3]), y: Tensor.from(backend, y, [n]) };
    };
    const r = new Rng(cfg.number("dataSeed"));
    const split = {
      labelled: blobs(cfg.number("labels"), r),
      unlabelled: blobs(64, r),
      test: blobs(200, r),
    };
    return Promise.resolve({
      source: new PointsSource(split, unlabelledBatch, rng),
      shape: [3],
      classes: 2,
    });
  },
};

Deno.test("registry: a toy data set added as one entry trains through the command line", async () => {
  const reg: Registry = { ...BUILTIN, datasets: { ...BUILTIN.datasets, toy } };
  const dir = await Deno.makeTempDir();
  const error = await train(["--dataset", "toy", "--out", `${dir}/run`], reg);
  assert(error !== null && error < 10, `the toy set trained to ${error}% error`);
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`));
  assert.equal(cfg.preset, "toy-supervised");
  assert.deepEqual(cfg.hidden, [8]);
  // The toy set's options are the registry's: a method option that does not apply is refused.
  await assert.rejects(
    () => train(["--dataset", "toy", "--eps", "1", "--out", `${dir}/x`], reg),
    /--eps: it applies to --method vat, not supervised/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("registry: --g-schedule constant holds G's rate and beta1 while C's decay; run decays both", async () => {
  const be = await createCpuBackend("f32");
  const at = (schedule: string) =>
    resolveRun(BUILTIN, {
      preset: "circles-advgen",
      flags: { iterations: 100, lrDecayStart: 0.5, gSchedule: schedule },
    });
  for (const schedule of ["run", "constant"]) {
    const { method, data } = await setup(be, BUILTIN, at(schedule));
    data.close?.();
    const { classifier: c, generator: g } = method.optimizers;
    // Step 75 is halfway through the decay that starts at step 50.
    assert.equal(c.lr(75), 5e-4);
    assert.equal(c.beta1(75), 0.5);
    assert.equal(g.lr(10), 3e-4);
    assert.equal(g.lr(75), schedule === "run" ? 1.5e-4 : 3e-4);
    assert.equal(g.beta1(75), schedule === "run" ? 0.5 : 0.9);
  }
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    () => train(["--preset", "circles-advgen", "--g-schedule", "decaying", "--out", `${dir}/r`]),
    /--g-schedule/,
  );
  await Deno.remove(dir, { recursive: true });
});
