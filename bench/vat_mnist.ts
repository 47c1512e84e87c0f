/**
 * Our half of the VAT-on-MNIST comparison with an independent PyTorch
 * implementation (bench/torch_vat_mnist.py): writes what the PyTorch script
 * needs to start where a run of ours starts, and our first losses and
 * gradients on that start.
 *
 *   deno run --allow-all bench/vat_mnist.ts --dump DIR [train flags]
 *
 * The train flags resolve as `deno task train` resolves them (preset
 * mnist-vat unless --preset says otherwise). DIR gets, per run seed:
 *   manifest.json      tensors (name, shape, offset), our first losses, the flags
 *   weights.f32        C's initial parameters and buffers, float32, in manifest order
 *   labelled.i32       the labelled training indices (the split of --data-seed)
 *   batch.f32          the first batch: xl (bl, 784), yl (bl), xul (bu, 784), the
 *                      VAT start d (bu, 784), then our gradients of L_nll + beta
 *                      L_vat at that start, one per parameter (manifest "grads"),
 *                      then r_vadv from that start in float32 and in float64 (bu, 784)
 *
 * The float64 pass is a copy of C on the float64 CPU backend: the power
 * iteration's probe (xi = 1e-6) is below float32's resolution of a pixel,
 * so its float32 direction carries rounding noise, and the float64 one is
 * the direction both implementations approximate.
 * @module
 */
import { grad, noGrad } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import { openBackend } from "../src/backend/mod.ts";
import { trainConfig } from "../src/cli/main.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { vatLoss, vatPerturbation } from "../src/methods/vat.ts";
import { createCpuBackend } from "../src/backend/cpu.ts";
import type { Backend } from "../src/backend/backend.ts";
import { vatMnistMlp } from "../src/models/mlp.ts";
import type { Module } from "../src/nn/module.ts";
import { BatchNorm, withFrozenBatchNormStats } from "../src/nn/layers.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { BUILTIN } from "../src/registry/mod.ts";
import { setup } from "../src/registry/setup.ts";
import { imageSplit } from "../src/registry/datasets.ts";
import type { DatasetName } from "../src/data/catalog.ts";
import { UserError } from "../src/util/errors.ts";
import { runMain } from "../src/cli/args.ts";
import { writeAtomic } from "../src/util/fs.ts";

/** Seed of the VAT start d shared with PyTorch (any fixed value). */
const START_SEED = 7;

/** A copy of C's weights and statistics on `be`. */
function copyTo(c: Module, be: Backend): Module {
  const copy = vatMnistMlp(be, new Rng(0));
  const dst = [...copy.namedParameters(), ...copy.namedBuffers()];
  [...c.namedParameters(), ...c.namedBuffers()].forEach(([name, t], i) => {
    if (dst[i][0] !== name) throw new Error(`Cannot copy C: '${name}' is not '${dst[i][0]}'`);
    be.write(dst[i][1].storage, t.toArray());
  });
  return copy;
}

let f64: Backend | null = null;

/**
 * r_vadv of VAT's first step recomputed in float64 from the same weights and
 * start d (in training mode batch norm uses the batch's statistics, so the
 * running ones do not matter).
 */
function float64Perturbation(
  c: Module,
  xul: Tensor,
  opts: { eps: number; xi: number; iterations: number },
): Float64Array {
  const be = f64!;
  const c64 = copyTo(c, be);
  const to64 = (t: Tensor) => Tensor.from(be, t.toArray(), t.shape);
  return scope(() => {
    const x = to64(xul);
    const clean = noGrad(() => withFrozenBatchNormStats(() => c64.forward(x)));
    return Float64Array.from(vatPerturbation(c64, x, clean, new Rng(START_SEED), opts).toArray());
  });
}

async function main(args: string[]) {
  const at = args.indexOf("--dump");
  if (at < 0 || !args[at + 1]) throw new UserError("Cannot dump: give --dump DIR");
  const dir = args[at + 1];
  const flags = [...args.slice(0, at), ...args.slice(at + 2)];
  if (!flags.includes("--preset")) flags.unshift("--preset", "mnist-vat");
  const cfg = await trainConfig([...flags, "--backend", "cpu"]);
  if (cfg.string("method") !== "vat") {
    throw new UserError("Cannot dump: the run's method is not vat");
  }
  const be = await openBackend("cpu", { threads: cfg.number("threads") });
  const exp = await setup(be, BUILTIN, cfg);
  f64 = await createCpuBackend("f64");
  try {
    await Deno.mkdir(dir, { recursive: true });
    const c = exp.method.modules.classifier;
    const named = [...c.namedParameters(), ...c.namedBuffers()];
    let offset = 0;
    const tensors = named.map(([name, t]) => {
      const e = { name, shape: t.shape, offset };
      offset += t.size;
      return e;
    });
    const weights = new Float32Array(offset);
    named.forEach(([, t], i) => weights.set(t.toArray(), tensors[i].offset));
    await writeAtomic(`${dir}/weights.f32`, new Uint8Array(weights.buffer));

    const dataset = await loadDataset(cfg.string("dataset") as DatasetName, {
      dataDir: cfg.path("dataDir") ?? undefined,
      download: false,
      backend: be,
    });
    const split = imageSplit(dataset, cfg);
    await writeAtomic(`${dir}/labelled.i32`, new Uint8Array(split.labelled.buffer));

    await exp.data.ready?.();
    const losses = scope(() => {
      const batch = exp.data.next();
      const xul = batch.xul!;
      const d = ops.randn(be, xul.shape, new Rng(START_SEED));
      // The order of VAT's step: the labelled pass (moves the statistics), then the rest frozen.
      const nll = ops.crossEntropy(c.forward(batch.xl), batch.yl);
      const clean = noGrad(() => withFrozenBatchNormStats(() => c.forward(xul)));
      const opts = {
        eps: cfg.number("eps"),
        xi: cfg.number("xi"),
        iterations: cfg.number("powerIterations"),
      };
      const vat = vatLoss(c, xul, clean, new Rng(START_SEED), opts);
      const total = ops.add(nll, ops.scale(vat, cfg.number("beta")));
      const params = c.parameters();
      const grads = grad(total, params);
      const r32 = vatPerturbation(c, xul, clean, new Rng(START_SEED), opts);
      const r64 = float64Perturbation(c, xul, opts);
      const parts: Tensor[] = [batch.xl, batch.yl, xul, d, ...grads, r32];
      const arrays = [...parts.map((t) => t.toArray()), r64];
      const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
      let k = 0;
      for (const a of arrays) {
        out.set(a, k);
        k += a.length;
      }
      return {
        out,
        nll: nll.item(),
        vat: vat.item(),
        shapes: { xl: batch.xl.shape, yl: batch.yl.shape, xul: xul.shape },
        grads: c.namedParameters().map(([name, t]) => ({ name, shape: t.shape })),
      };
    });
    await writeAtomic(`${dir}/batch.f32`, new Uint8Array(losses.out.buffer));
    const manifest = {
      flags,
      seed: cfg.number("seed"),
      config: Object.fromEntries(
        ["eps", "xi", "beta", "lr", "iterations", "lrDecayStart", "beta1Decayed", "batchSize"]
          .concat(["ulBatchSize", "labels", "dataSeed", "evalInterval"])
          .map((k) => [k, cfg.values[k] ?? null]),
      ),
      bnMomentum: [...c.modules()].find((m): m is BatchNorm => m instanceof BatchNorm)!.momentum,
      tensors,
      batch: losses.shapes,
      grads: losses.grads,
      ours: { nll: losses.nll, vat: losses.vat },
    };
    await writeAtomic(
      `${dir}/manifest.json`,
      new TextEncoder().encode(JSON.stringify(manifest, null, 1) + "\n"),
    );
    console.log(`wrote ${dir}: nll ${losses.nll.toFixed(6)}  vat ${losses.vat.toExponential(6)}`);
  } finally {
    exp.data.close?.();
  }
}

if (import.meta.main) await runMain(main);
