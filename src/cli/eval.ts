/**
 * `deno task eval --checkpoint RUN`: the test error of a trained run's
 * classifier (batch-norm statistics re-estimated as in training, where the
 * run does that) and its confusion matrix, printed and drawn as a heat map
 * into the run folder (confusion.png).
 * @module
 */
import { withEvaluated } from "../methods/loop.ts";
import { BUILTIN, type Registry } from "../registry/mod.ts";
import { confusionHeatmap, confusionMatrix, confusionText } from "../report/figures.ts";
import { writePng } from "../report/png.ts";
import type { OptionSpec } from "../util/options.ts";
import { helpText, parseFlags, runMain } from "./args.ts";
import { slowWork } from "./progress.ts";
import { writeReport } from "./report.ts";
import {
  BACKEND_OVERRIDE,
  CHECKPOINT_OPTION,
  DATA_DIR_OVERRIDE,
  openFromFlags,
} from "./trained.ts";

const OPTIONS: Record<string, OptionSpec> = {
  checkpoint: CHECKPOINT_OPTION,
  backend: BACKEND_OVERRIDE,
  dataDir: DATA_DIR_OVERRIDE,
};

/** Evaluates a run; returns its test error in percent (null for --help). */
export async function evalRun(args: string[], reg: Registry = BUILTIN): Promise<number | null> {
  const { values, help } = parseFlags(args, OPTIONS);
  if (help) {
    console.log(helpText(
      "deno task eval --checkpoint RUN",
      "Prints a trained run's test error and confusion matrix, and writes RUN/confusion.png.",
      OPTIONS,
    ));
    return null;
  }
  const t = await openFromFlags(reg, values, "evaluate");
  const path = t.run.path;
  try {
    const { exp } = t;
    const p = withEvaluated(
      exp.method,
      exp.data,
      (model) => exp.data.testPredictions(model, slowWork((line) => console.error(line))),
    );
    const wrong = p.predicted.reduce((n, q, i) => n + (q !== p.labels[i] ? 1 : 0), 0);
    const error = (100 * wrong) / p.labels.length;
    const m = confusionMatrix(p);
    const title = `${t.cfg.string("dataset")} ${t.cfg.string("method")} ${error.toFixed(2)}%`;
    const fig = confusionHeatmap(m, title);
    await writePng(t.run.file("confusion.png"), fig.rgb, fig.width, fig.height);
    console.log(
      `${path}: test error ${
        error.toFixed(2)
      }% (${wrong} of ${p.labels.length}) at iteration ${t.iteration}`,
    );
    console.log(`confusion matrix (rows: true class, columns: predicted):\n${confusionText(m)}`);
    console.log(`heat map: ${t.run.file("confusion.png")}`);
    await writeReport([t.run.path]);
    return error;
  } finally {
    t.close();
  }
}

if (import.meta.main) await runMain(async (args) => void await evalRun(args));
