/**
 * `deno task bench`: speed of the CPU backend, each number beside a reference
 * measured in the same run (bare cblas_sgemm, and PyTorch when installed).
 *
 *   1. Linear forward + backward, 1024x1024 weights, batch 256, against the
 *      three bare cblas_sgemm calls it makes (target: ratio <= 1.15).
 *   2. One VAT training step of VAT's MNIST MLP, 100 labelled + 250
 *      unlabelled, one power iteration, against PyTorch (target: <= 1.0).
 *   3. conv2d forward + backward, 128 -> 128 channels, 3x3, 32x32, batch 32:
 *      GFLOP/s beside a plain sgemm of the same size and PyTorch.
 *   4. The data stream (bench/data.ts): batches per second for MNIST-shaped
 *      and CIFAR-shaped (augmented) batches, as a multiple of the VAT step's
 *      rate (target: >= 3, so the step never waits on data).
 *   5. Rows 1-3 again with --precision bf16 (oneDNN, where the processor has
 *      AVX-512-BF16 or AMX), as a time ratio to our fp32 above; the header
 *      names the instruction set oneDNN found.
 * @module
 */
import { createCpuBackend } from "../src/backend/cpu.ts";
import { PrecisionError } from "../src/backend/backend.ts";
import { backward } from "../src/autograd/tape.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Adam } from "../src/nn/optim.ts";
import { vatMnistMlp } from "../src/models/mlp.ts";
import { vatLoss } from "../src/methods/vat.ts";
import { benchData } from "./data.ts";
import { helpText, parseFlags } from "../src/cli/args.ts";
import type { OptionSpec } from "../src/util/options.ts";

const OPTIONS: Record<string, OptionSpec> = {
  quick: { kind: "bool", default: false, help: "fewer repetitions (a smoke run)" },
};
const parsed = parseFlags(Deno.args, OPTIONS);
if (parsed.help) {
  console.log(helpText("deno task bench [flags]", "CPU speed against sgemm and PyTorch.", OPTIONS));
  Deno.exit(0);
}
const quick = parsed.values.quick as boolean;
const be = await createCpuBackend("f32");

/** Median milliseconds of `fn` after warm-up runs. */
function medianMs(fn: () => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// ---- the references ----

/** cblas_sgemm straight from OpenBLAS, with no layer of ours in between. */
function bareSgemm() {
  const names = ["libopenblas.so.0", "libopenblas.so"];
  for (const name of names) {
    try {
      const lib = Deno.dlopen(name, {
        cblas_sgemm: {
          parameters: [
            "i32",
            "i32",
            "i32",
            "i32",
            "i32",
            "i32",
            "f32",
            "pointer",
            "i32",
            "pointer",
            "i32",
            "f32",
            "pointer",
            "i32",
          ],
          result: "void",
        },
      });
      const RowMajor = 101, N = 111, T = 112;
      return (
        ta: boolean,
        tb: boolean,
        m: number,
        n: number,
        k: number,
        a: Tensor,
        lda: number,
        b: Tensor,
        ldb: number,
        beta: number,
        c: Tensor,
        ldc: number,
      ) =>
        lib.symbols.cblas_sgemm(
          RowMajor,
          ta ? T : N,
          tb ? T : N,
          m,
          n,
          k,
          1,
          a.storage.ptr,
          lda,
          b.storage.ptr,
          ldb,
          beta,
          c.storage.ptr,
          ldc,
        );
    } catch { /* try the next name */ }
  }
  throw new Error("Cannot open libopenblas for the bare sgemm reference");
}

/** PyTorch's timings from bench/torch_reference.py, or why there are none. */
async function torchTimings(): Promise<
  { vat_step_ms: number; conv_ms: number; torch: string } | string
> {
  const script = new URL("./torch_reference.py", import.meta.url).pathname;
  const pythons = [Deno.env.get("ADVSSL_TORCH_PYTHON"), "/usr/bin/python3", "python3"].filter((
    p,
  ): p is string => !!p);
  type Timings = { vat_step_ms: number; conv_ms: number; torch: string };
  const run = async (py: string, coretype: string): Promise<Timings | null> => {
    try {
      const r = await new Deno.Command(py, {
        args: [script, String(be.threads())],
        env: { OMP_WAIT_POLICY: "PASSIVE", OPENBLAS_CORETYPE: coretype },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return r.success ? JSON.parse(new TextDecoder().decode(r.stdout)) : null;
    } catch {
      return null;
    }
  };
  for (const py of pythons) {
    // The reference at its best: with our OpenBLAS kernel choice and with OpenBLAS's own
    // (an empty OPENBLAS_CORETYPE), keeping the faster time of each benchmark.
    const a = await run(py, Deno.env.get("OPENBLAS_CORETYPE") ?? "");
    if (!a) continue;
    const b = await run(py, "");
    if (!b) return a;
    return {
      torch: a.torch,
      vat_step_ms: Math.min(a.vat_step_ms, b.vat_step_ms),
      conv_ms: Math.min(a.conv_ms, b.conv_ms),
    };
  }
  return "PyTorch not found (apt-get install python3-torch, or set ADVSSL_TORCH_PYTHON)";
}

const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);
/** Our timed work in the rows above, re-timed in bf16 at the end. */
const compute: { name: string; fn: () => void; reps: number; fp32: number }[] = [];
const fmt = (v: number, d = 2) => v.toFixed(d);

// 1. Linear forward + backward against its three sgemm calls.
{
  const [n, inF, outF] = [256, 1024, 1024];
  const sgemm = bareSgemm();
  const rng = new Rng(1);
  const x = ops.randn(be, [n, inF], rng);
  const w = ops.randn(be, [outF, inF], rng);
  const b = ops.randn(be, [outF], rng);
  w.requiresGrad = b.requiresGrad = x.requiresGrad = true;
  const y = Tensor.empty(be, [n, outF]);
  const dx = Tensor.empty(be, [n, inF]);
  const dw = Tensor.empty(be, [outF, inF]);
  const seed = ops.randn(be, [n, outF], rng);
  const reps = quick ? 10 : 40;
  const bare = () => {
    sgemm(false, true, n, outF, inF, x, inF, w, inF, 0, y, outF);
    sgemm(false, false, n, inF, outF, seed, outF, w, inF, 0, dx, inF);
    sgemm(true, false, outF, inF, n, seed, outF, x, inF, 0, dw, inF);
  };
  const ours = () =>
    scope(() => {
      for (const p of [x, w, b]) p.gradReady = false;
      backward(ops.linear(x, w, b), { seed });
    });
  // Interleave the two so that frequency drift hits both alike.
  let tBare = Infinity, tOurs = Infinity;
  for (let i = 0; i < 3; i++) {
    tBare = Math.min(tBare, medianMs(bare, 3, reps));
    tOurs = Math.min(tOurs, medianMs(ours, 3, reps));
  }
  compute.push({ name: "linear 1024x1024, batch 256, fwd+bwd", fn: ours, reps, fp32: tOurs });
  row(
    "linear 1024x1024, batch 256, fwd+bwd",
    `${fmt(tOurs)} ms`,
    `bare cblas_sgemm x3: ${fmt(tBare)} ms`,
    fmt(tOurs / tBare),
    "<= 1.15",
  );
}

// 2. One VAT step of the MNIST MLP.
const torch = await torchTimings();
let vatMs = 0;
{
  const rng = new Rng(0);
  const model = vatMnistMlp(be, rng.fork());
  const opt = new Adam(model.parameters(), { lr: 2e-3 });
  const data = rng.fork();
  const xl = ops.randUniform(be, [100, 784], data);
  const labels = Tensor.from(be, Array.from({ length: 100 }, (_, i) => i % 10), [100]);
  const xul = ops.randUniform(be, [250, 784], data);
  const step = () =>
    scope(() => {
      opt.zeroGrad();
      const nll = ops.crossEntropy(model.forward(xl), labels);
      const clean = model.forward(xul);
      const vat = vatLoss(model, xul, clean, data, { eps: 0.3, xi: 1e-6, iterations: 1 });
      backward(ops.add(nll, vat));
      opt.update();
    });
  vatMs = medianMs(step, 5, quick ? 10 : 40);
  compute.push({
    name: "VAT step, MNIST MLP, 100+250",
    fn: step,
    reps: quick ? 10 : 40,
    fp32: vatMs,
  });
  const ref = typeof torch === "string"
    ? torch
    : `PyTorch ${torch.torch}: ${fmt(torch.vat_step_ms)} ms`;
  row(
    "VAT step, MLP 784-1200-600-300-150-10, 100+250",
    `${fmt(vatMs)} ms`,
    ref,
    typeof torch === "string" ? "-" : fmt(vatMs / torch.vat_step_ms),
    "<= 1.0",
  );
}

// 3. conv2d forward + backward against a plain sgemm of the same size.
{
  const [n, c, k, h] = [32, 128, 128, 32];
  const rng = new Rng(2);
  const x = ops.randn(be, [n, c, h, h], rng);
  const w = ops.randn(be, [k, c, 3, 3], rng);
  x.requiresGrad = w.requiresGrad = true;
  const seed = ops.randn(be, [n, k, h, h], rng);
  const flops = 3 * 2 * n * k * c * 9 * h * h;
  const conv = () =>
    scope(() => {
      w.gradReady = false;
      backward(ops.conv2d(x, w, null, { padding: 1 }), { seed });
    });
  const convMs = medianMs(conv, 2, quick ? 3 : 10);
  compute.push({
    name: "conv2d 128->128 3x3 32x32 b32, fwd+bwd",
    fn: conv,
    reps: quick ? 3 : 10,
    fp32: convMs,
  });
  const sgemm = bareSgemm();
  const a = ops.randn(be, [k, c * 9], rng);
  const bm = ops.randn(be, [c * 9, n * h * h], rng);
  const cm = Tensor.empty(be, [k, n * h * h]);
  const gemmMs = medianMs(
    () => sgemm(false, false, k, n * h * h, c * 9, a, c * 9, bm, n * h * h, 0, cm, n * h * h),
    2,
    quick ? 3 : 10,
  );
  const gflops = (ms: number, f: number) => f / ms / 1e6;
  row(
    "conv2d 128->128 3x3 32x32 b32, fwd+bwd",
    `${fmt(gflops(convMs, flops), 1)} GFLOP/s`,
    `sgemm same size: ${fmt(gflops(gemmMs, flops / 3), 1)} GFLOP/s`,
    fmt(gflops(convMs, flops) / gflops(gemmMs, flops / 3)),
    "(of sgemm)",
  );
  if (typeof torch !== "string") {
    row(
      "  same conv in PyTorch",
      `${fmt(convMs)} ms`,
      `PyTorch: ${fmt(torch.conv_ms)} ms (${fmt(gflops(torch.conv_ms, flops), 1)} GFLOP/s)`,
      fmt(convMs / torch.conv_ms),
      "(time ratio)",
    );
  }
}

// 4. The data stream against the training step's rate.
for (const r of await benchData(vatMs, quick)) row(...r);

// 5. The same work with --precision bf16, against our own fp32 above.
{
  let why: string | null = null;
  try {
    be.setComputePrecision("bf16");
  } catch (e) {
    if (!(e instanceof PrecisionError)) throw e;
    why = e.reason;
  }
  if (why) row("bf16 rows", "-", `not run: ${why}`, "-", "-");
  else {
    for (const c of compute) {
      const ms = medianMs(c.fn, 2, c.reps);
      row(
        `  ${c.name}, bf16`,
        `${fmt(ms)} ms`,
        `our fp32: ${fmt(c.fp32)} ms`,
        fmt(ms / c.fp32),
        "(time ratio)",
      );
    }
    be.setComputePrecision("fp32");
  }
}

console.log(
  `advssl bench: CPU backend, ${be.threads()} threads, oneDNN ISA ${be.cpuIsa() ?? "none"}${
    typeof torch === "string" ? `; ${torch}` : ""
  }\n`,
);
const header = ["benchmark", "ours", "reference", "ratio", "target"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
