/**
 * `deno task visualize --checkpoint RUN`: the paper's figure for a trained
 * run. One row per test image: the original, G(x, z) for several z (the
 * paper's method), and VAT's x + r_vadv from the same classifier for
 * comparison, all scaled back to pixels (ZCA undone for CIFAR-10). Written to
 * RUN/adversarial.png.
 * @module
 */
import { scope, Tensor } from "../autograd/tensor.ts";
import { ImageSource } from "../data/images.ts";
import { withEvaluated } from "../methods/loop.ts";
import { evaluatedOf } from "../methods/method.ts";
import { vatPerturbation } from "../methods/vat.ts";
import * as ops from "../ops/mod.ts";
import { Rng } from "../ops/random.ts";
import { BUILTIN, type Registry } from "../registry/mod.ts";
import { imageGrid } from "../report/figures.ts";
import { writePng } from "../report/png.ts";
import { UserError } from "../util/errors.ts";
import type { OptionSpec } from "../util/options.ts";
import { helpText, parseFlags, runMain } from "./args.ts";
import { writeReport } from "./report.ts";
import {
  BACKEND_OVERRIDE,
  CHECKPOINT_OPTION,
  DATA_DIR_OVERRIDE,
  openFromFlags,
} from "./trained.ts";

const OPTIONS: Record<string, OptionSpec> = {
  checkpoint: CHECKPOINT_OPTION,
  samples: { kind: "int", min: 1, max: 64, default: 8, help: "test images, one row each" },
  z: {
    kind: "int",
    min: 1,
    max: 16,
    default: 4,
    help: "draws of z per image (the paper's method)",
  },
  eps: {
    kind: "number",
    min: 0,
    max: 1e6,
    help: "radius of VAT's r_vadv (default: the run's --eps, else its --g-radius)",
  },
  scale: { kind: "int", min: 1, max: 16, default: 3, help: "screen pixels per image pixel" },
  backend: BACKEND_OVERRIDE,
  dataDir: DATA_DIR_OVERRIDE,
};

/** Draws the figure; returns its path (null for --help). */
export async function visualize(args: string[], reg: Registry = BUILTIN): Promise<string | null> {
  const { values, help } = parseFlags(args, OPTIONS);
  if (help) {
    console.log(helpText(
      "deno task visualize --checkpoint RUN [flags]",
      "Draws test images beside G(x, z) for several z and VAT's x + r_vadv: RUN/adversarial.png.",
      OPTIONS,
    ));
    return null;
  }
  const t = await openFromFlags(reg, values, "visualize");
  const path = t.run.path;
  try {
    const { exp, cfg } = t;
    if (!(exp.data instanceof ImageSource)) {
      throw new UserError(
        `Cannot visualize ${path}: it trained on ${
          cfg.string("dataset")
        }, not images (two circles draw boundary.png)`,
      );
    }
    const eps = (values.eps as number | undefined) ??
      (cfg.has("eps") ? cfg.number("eps") : cfg.has("gRadius") ? cfg.number("gRadius") : null);
    if (eps === null) {
      throw new UserError(
        `Cannot visualize ${path}: give VAT's radius with --eps (the run has none)`,
      );
    }
    const dataset = exp.data.dataset;
    const [, c, h, w] = dataset.test.shape;
    const d = c * h * w;
    const n = Math.min(values.samples as number, dataset.test.shape[0]);
    const draws = exp.method.adversarial ? (values.z as number) : 0;
    const columns = 2 + draws;
    // The batch-norm statistics the run's evaluations use (re-estimated where it does that).
    withEvaluated(exp.method, exp.data, () => {});
    const model = evaluatedOf(exp.method);
    const was = model.training;
    model.eval();
    const all = new Float32Array(n * columns * d);
    try {
      scope(() => {
        const x = Tensor.from(t.backend, dataset.test.images.subarray(0, n * d), [n, c, h, w]);
        const outputs = [x];
        for (let k = 0; k < draws; k++) outputs.push(exp.method.adversarial!(x));
        const logits = model.forward(x);
        const r = vatPerturbation(model, x, logits, new Rng(1), { eps, xi: 1e-6, iterations: 1 });
        outputs.push(ops.add(x, r));
        outputs.forEach((o, col) => {
          const v = o.toArray();
          for (let i = 0; i < n; i++) {
            all.set(v.subarray(i * d, (i + 1) * d), (i * columns + col) * d);
          }
        });
      });
    } finally {
      model.train(was);
    }
    dataset.toPixels(all, n * columns);
    const rows = Array.from(
      { length: n },
      (_, i) =>
        Array.from(
          { length: columns },
          (_, col) => all.subarray((i * columns + col) * d, (i * columns + col + 1) * d),
        ),
    );
    const fig = imageGrid(rows, [c, h, w], values.scale as number);
    const out = t.run.file("adversarial.png");
    await writePng(out, fig.rgb, fig.width, fig.height);
    await writeReport([t.run.path]);
    console.log(
      `${out}: ${n} test images; columns: original${
        draws ? `, G(x, z) for ${draws} z` : ""
      }, VAT's x + r_vadv (eps ${eps})`,
    );
    return out;
  } finally {
    t.close();
  }
}

if (import.meta.main) await runMain(async (args) => void await visualize(args));
