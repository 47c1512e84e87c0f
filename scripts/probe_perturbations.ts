/**
 * A research probe (docs/mnist.md, section 3): what a trained advgen run's
 * generator teaches its classifier. On the first test images, in batches of
 * the training's unlabelled size, it compares three perturbations of the
 * same L2 norm: G(x, z), VAT's r_vadv for C, and a random direction. For each
 * it reports C's KL and label flips with batch norm as in training (each
 * batch by its own statistics, as C's consistency pass sees it) and as at
 * test time (the running statistics), and, where an oracle run is given, how
 * often the oracle's label on the perturbed image leaves the true class.
 *
 *   deno run --allow-all scripts/probe_perturbations.ts --checkpoint RUN [--oracle RUN2]
 * @module
 */
import { resolve } from "node:path";
import { noGrad } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import { helpText, parseFlags, runMain } from "../src/cli/args.ts";
import { CHECKPOINT_OPTION, DATA_DIR_OVERRIDE, openTrained } from "../src/cli/trained.ts";
import { argmaxRows } from "../src/data/source.ts";
import type { ImageSource } from "../src/data/images.ts";
import { AdvGen, randomOfSameNorm } from "../src/methods/advgen.ts";
import { vatPerturbation } from "../src/methods/vat.ts";
import { evaluatedOf } from "../src/methods/method.ts";
import { BatchNorm, withFrozenBatchNormStats } from "../src/nn/layers.ts";
import { Adam } from "../src/nn/optim.ts";
import { convGenerator, type Generator } from "../src/models/generator.ts";
import { DataRng } from "../src/data/rng.ts";
import type { Module } from "../src/nn/module.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { BUILTIN } from "../src/registry/mod.ts";
import type { Registry } from "../src/registry/registry.ts";
import { UserError } from "../src/util/errors.ts";
import type { OptionSpec } from "../src/util/options.ts";

const OPTIONS: Record<string, OptionSpec> = {
  checkpoint: CHECKPOINT_OPTION,
  oracle: {
    kind: "string",
    metavar: "RUN",
    help: "a trained run whose classifier labels the perturbed images",
  },
  images: {
    kind: "int",
    min: 1,
    default: 2000,
    help: "images probed, from the first, in whole batches",
  },
  batch: {
    kind: "int",
    min: 1,
    help: "images per batch (default: the run's unlabelled batch size, else 250)",
  },
  split: { kind: "choice", choices: ["test", "train"], default: "test", help: "which images" },
  attack: {
    kind: "int",
    min: 0,
    default: 0,
    help: "also train a fresh G for this many steps against the frozen C (on training images)",
  },
  attackFrom: {
    kind: "string",
    metavar: "RUN",
    help: "an advgen run whose G settings the fresh G takes (default: the probed run's)",
  },
  attackWidth: { kind: "int", min: 1, help: "the fresh G's --g-width (default: the run's)" },
  attackCode: { kind: "int", min: 1, help: "the fresh G's --g-code (default: the run's)" },
  radius: {
    kind: "number",
    min: 0,
    help: "the steps' L2 norm (default: G's radius, else VAT's eps)",
  },
  dataDir: DATA_DIR_OVERRIDE,
};

type Mode = "batch" | "running";

/**
 * Puts C in a mode: batch norm by each batch's own statistics or by the
 * running ones. Dropout and input noise stay off in both, so that C's KL
 * measures the perturbation, not their random draws.
 */
function setMode(c: Module, mode: Mode): void {
  c.eval();
  if (mode === "batch") { for (const m of c.modules()) if (m instanceof BatchNorm) m.train(true); }
}

/** C's logits on x in a mode (batch statistics frozen, see {@linkcode setMode}). */
function logits(c: Module, x: Tensor, mode: Mode): Tensor {
  setMode(c, mode);
  return noGrad(() => withFrozenBatchNormStats(() => c.forward(x)));
}

function labelsOf(t: Tensor): Int32Array {
  return argmaxRows(t.toArray(), t.shape[0], t.shape[1]);
}

function differ(a: Int32Array, b: ArrayLike<number>): number {
  return a.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0);
}

/**
 * A fresh generator of the run's kind (its width and code as given), trained
 * by the run's own G step for `steps` steps against the frozen raw C, on
 * training images in a random order.
 */
function freshAttack(
  c: Module,
  method: AdvGen,
  lr: number,
  width: number,
  code: number,
  steps: number,
  batch: number,
  data: ImageSource,
): Generator {
  const be = c.parameters()[0].backend;
  const { images, shape } = data.dataset.train;
  const [n, ch, h, w] = shape;
  const rng = new Rng(0x617474);
  const gen = convGenerator(be, rng, [ch, h, w], width, code, method.generator.options);
  const optG = new Adam(gen.parameters(), { lr });
  const options = { ...method.options, gTarget: "classifier" as const, vatWeight: 0 };
  const attacker = new AdvGen(c, gen, new Adam([]), optG, options);
  const row = ch * h * w;
  const order = new DataRng(0x617474, 0).permutation(n);
  const x = new Float32Array(batch * row);
  c.train(true);
  for (let s = 0; s < steps; s++) {
    for (let j = 0; j < batch; j++) {
      const i = order[(s * batch + j) % n];
      x.set(images.subarray(i * row, (i + 1) * row), j * row);
    }
    scope(() => {
      const m = attacker.generatorStep(
        Tensor.from(be, x, [batch, ch, h, w]),
        Number.MAX_SAFE_INTEGER,
      );
      if ((s + 1) % 500 === 0 || s + 1 === steps) {
        const kl = (m.g_adv as Tensor).item();
        console.error(`fresh G step ${s + 1}/${steps}: G's KL on its batch ${kl.toFixed(4)}`);
      }
    });
  }
  return gen;
}

/** The probe's command: prints its tables for the run that `args` name, from `reg`'s data sets. */
export async function probe(args: string[], reg: Registry = BUILTIN): Promise<void> {
  const { values, help } = parseFlags(args, OPTIONS);
  if (help) {
    console.log(helpText("probe_perturbations.ts --checkpoint RUN [--oracle RUN2]", "", OPTIONS));
    return;
  }
  const dataDir = values.dataDir as string | undefined;
  const t = await openTrained(reg, values.checkpoint as string, "cpu", dataDir);
  const o = values.oracle ? await openTrained(reg, values.oracle as string, "cpu", dataDir) : null;
  const opened: { close(): void }[] = [];
  try {
    const method = t.exp.method;
    // The classifier that trained against the perturbations: advgen's raw C, not its average.
    const c = method instanceof AdvGen ? method.classifier : evaluatedOf(method);
    const g = method instanceof AdvGen ? method.generator : null;
    const radius = (values.radius as number | undefined) ??
      (g ? t.cfg.number("gRadius") : t.cfg.has("eps") ? t.cfg.number("eps") : null);
    if (radius === null) {
      throw new UserError(`Cannot probe ${t.run.path}: give the steps' norm with --radius`);
    }
    const batch = (values.batch as number | undefined) ??
      (t.cfg.has("ulBatchSize") ? t.cfg.number("ulBatchSize") : 250);
    const generators: [string, Generator][] = g ? [["G(x, z)", g]] : [];
    const attack = values.attack as number;
    if (attack > 0) {
      const fromPath = values.attackFrom as string | undefined;
      const from = fromPath && resolve(fromPath) !== resolve(t.run.path)
        ? await openTrained(reg, fromPath, "cpu", dataDir)
        : t;
      opened.push(from);
      const template = from.exp.method;
      if (!(template instanceof AdvGen)) {
        throw new UserError(
          `Cannot train a fresh G from ${from.run.path}: its method is not advgen (give --attack-from)`,
        );
      }
      const width = (values.attackWidth as number | undefined) ?? from.cfg.number("gWidth");
      const code = (values.attackCode as number | undefined) ?? from.cfg.number("gCode");
      const fresh = freshAttack(
        c,
        template,
        from.cfg.number("gLr"),
        width,
        code,
        attack,
        batch,
        t.exp.data as ImageSource,
      );
      generators.push([`fresh G (width ${width}, code ${code}, ${attack} steps)`, fresh]);
    }
    const kinds = [...generators.map(([name]) => name), "VAT r_vadv", "random"];
    const oracle = o ? evaluatedOf(o.exp.method) : null;
    oracle?.eval();
    const split = values.split as "test" | "train";
    const { images, labels, shape } = (t.exp.data as ImageSource).dataset[split];
    const [total, ch, h, w] = shape;
    const n = Math.min(values.images as number, total);
    if (n < batch) {
      throw new UserError(
        `Cannot probe ${n} ${split} images: the probe takes whole batches of ${batch} (--batch)`,
      );
    }
    const row = ch * h * w;
    const zRng = new Rng(0x6d61), vatRng = new Rng(0x766174), randRng = new Rng(0x72616e);
    // Sums over images: per kind and mode, C's KL (batch mean times size) and flips; per kind, the oracle's errors.
    const kl: Record<string, number> = {}, flips: Record<string, number> = {};
    const oracleWrong: Record<string, number> = {},
      cleanWrong: Record<Mode, number> = { batch: 0, running: 0 };
    let oracleClean = 0, done = 0;
    for (let at = 0; at + batch <= n; at += batch) {
      scope(() => {
        const x = Tensor.from(t.backend, images.subarray(at * row, (at + batch) * row), [
          batch,
          ch,
          h,
          w,
        ]);
        const y = labels.subarray(at, at + batch);
        const generated: Record<string, Tensor> = {};
        for (const [name, gen] of generators) {
          generated[name] = noGrad(() =>
            withFrozenBatchNormStats(() =>
              gen.generate(x, ops.randn(x.backend, [batch, gen.options.zDim], zRng))
            )
          );
        }
        const xg = g ? generated["G(x, z)"] : null;
        if (oracle) oracleClean += differ(labelsOf(noGrad(() => oracle.forward(x))), y);
        for (const mode of ["batch", "running"] as Mode[]) {
          const clean = logits(c, x, mode);
          const before = labelsOf(clean);
          cleanWrong[mode] += differ(before, y);
          // Not under noGrad: the power iteration differentiates C.
          const vat = ops.add(
            x,
            vatPerturbation(c, x, clean, vatRng, { eps: radius, xi: 1e-6, iterations: 1 }),
          );
          const perturbed: Record<string, Tensor> = {
            ...generated,
            "VAT r_vadv": vat,
            random: randomOfSameNorm(x, xg ?? vat, randRng),
          };
          for (const kind of kinds) {
            const xp = perturbed[kind];
            const moved = logits(c, xp, mode);
            const key = `${kind}|${mode}`;
            kl[key] = (kl[key] ?? 0) + noGrad(() => ops.klDivergence(clean, moved)).item() * batch;
            flips[key] = (flips[key] ?? 0) + differ(labelsOf(moved), before);
            if (oracle && mode === "running") {
              oracleWrong[kind] = (oracleWrong[kind] ?? 0) +
                differ(labelsOf(noGrad(() => oracle.forward(xp))), y);
            }
          }
        }
      });
      done += batch;
    }
    const pct = (v: number) => (100 * v / done).toFixed(2);
    console.log(
      `${t.run.path} at iteration ${t.iteration}: ${done} ${split} images in batches of ${batch}, ` +
        `steps of L2 norm ${radius}; C's clean error ${
          pct(cleanWrong.batch)
        } % (batch statistics), ` +
        `${pct(cleanWrong.running)} % (running)` +
        (o
          ? `; oracle ${o.run.path} (iteration ${o.iteration}), clean error ${pct(oracleClean)} %`
          : ""),
    );
    console.log(
      "\n| perturbation | C's KL, batch stats | C's flips (%), batch stats | C's KL, running stats | " +
        `C's flips (%), running stats |${oracle ? " oracle's error (%) |" : ""}`,
    );
    console.log(`| --- | --- | --- | --- | --- |${oracle ? " --- |" : ""}`);
    for (const kind of kinds) {
      const cells = (["batch", "running"] as Mode[]).flatMap((m) => [
        (kl[`${kind}|${m}`] / done).toFixed(4),
        pct(flips[`${kind}|${m}`]),
      ]);
      console.log(
        `| ${kind} | ${cells.join(" | ")} |${oracle ? ` ${pct(oracleWrong[kind])} |` : ""}`,
      );
    }
  } finally {
    for (const r of opened) if (r !== t) r.close();
    o?.close();
    t.close();
  }
}

if (import.meta.main) await runMain((args) => probe(args));
