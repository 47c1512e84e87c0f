/**
 * `deno task train`: trains a classifier. For now the built-in two-circles
 * set (8 labelled points, 1500 unlabelled, 1000 test) with the paper's MLP
 * 2-100-50-2, supervised or with VAT; the full command line, the paper's
 * method and the image data sets come with the next issues.
 * @module
 */
import { parseArgs } from "node:util";
import { createCpuBackend } from "./backend/cpu.ts";
import { backward, noGrad } from "./autograd/tape.ts";
import { scope } from "./autograd/tensor.ts";
import * as ops from "./ops/mod.ts";
import { Rng } from "./ops/random.ts";
import { Adam } from "./nn/optim.ts";
import { mlp } from "./models/mlp.ts";
import { vatLoss } from "./methods/vat.ts";
import { circlesSplit } from "./data/circles.ts";
import { BuildError } from "../build.ts";
import { UserError } from "./util/errors.ts";

const USAGE = `usage: deno task train [options]
  --method supervised|vat   training method (default vat)
  --iterations N            Adam steps (default 2000)
  --noise S                 circles noise, sigma per coordinate (default 0.06)
  --eps E                   VAT radius (default 0.1)
  --seed N                  training seed (default 1)
  --data-seed N             data seed (default 1)
  --help                    this text`;

function parse(args: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        method: { type: "string", default: "vat" },
        iterations: { type: "string", default: "2000" },
        noise: { type: "string", default: "0.06" },
        eps: { type: "string", default: "0.1" },
        seed: { type: "string", default: "1" },
        "data-seed": { type: "string", default: "1" },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UserError((e as Error).message.split("\n")[0]);
  }
  const num = (flag: string, v: string, int: boolean, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) {
      throw new UserError(
        `--${flag}: expected ${int ? "an integer" : "a number"} >= ${min}, got '${v}'`,
      );
    }
    return n;
  };
  if (values.method !== "supervised" && values.method !== "vat") {
    throw new UserError(`--method: expected supervised or vat, got '${values.method}'`);
  }
  return {
    help: values.help,
    method: values.method,
    iterations: num("iterations", values.iterations, true, 1),
    noise: num("noise", values.noise, false, 0),
    eps: num("eps", values.eps, false, 0),
    seed: num("seed", values.seed, true, 0),
    dataSeed: num("data-seed", values["data-seed"], true, 0),
  };
}

async function main(args: string[]): Promise<void> {
  const opts = parse(args);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const be = await createCpuBackend("f32");
  const data = circlesSplit(be, opts.noise, opts.dataSeed);
  const rng = new Rng(opts.seed);
  const model = mlp(be, rng.fork(), [2, 100, 50, 2], false);
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const noise = rng.fork();
  const testError = () =>
    scope(() =>
      noGrad(() =>
        ops.countErrors(model.forward(data.test.x), data.test.y).item() / data.test.y.size * 100
      )
    );
  const t0 = performance.now();
  for (let it = 1; it <= opts.iterations; it++) {
    const loss = scope(() => {
      opt.zeroGrad();
      let loss = ops.crossEntropy(model.forward(data.labelled.x), data.labelled.y);
      if (opts.method === "vat") {
        const x = data.unlabelled.x;
        const vat = vatLoss(model, x, model.forward(x), noise, {
          eps: opts.eps,
          xi: 1e-6,
          iterations: 1,
        });
        loss = ops.add(loss, vat);
      }
      backward(loss);
      opt.update();
      return loss.item();
    });
    if (it % Math.max(1, Math.floor(opts.iterations / 10)) === 0 || it === opts.iterations) {
      console.log(
        `iteration ${it}/${opts.iterations}  loss ${loss.toFixed(4)}  test error ${
          testError().toFixed(2)
        }%`,
      );
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `two circles (noise ${opts.noise}), ${opts.method}: test error ${
      testError().toFixed(2)
    }% after ${opts.iterations} iterations (${secs.toFixed(1)} s)`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`error: ${e.message}\n(run with --help to see the options)`);
      Deno.exit(2);
    }
    if (e instanceof BuildError) {
      console.error(`error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
