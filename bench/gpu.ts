/**
 * `deno task bench-gpu`: milliseconds per training iteration on a backend
 * (CUDA by default), beside PyTorch doing the same work in the same run.
 *
 *   advgen      one iteration of the paper's method (src/methods/advgen.ts):
 *               one C step and one G step, C = VAT's Conv-Large (or
 *               Conv-Small with --model conv-small), G = convGenerator for
 *               [3, 32, 32] images (width 32, code 64, z 16, bounded output).
 *   vat         one VAT iteration (src/methods/vat.ts) of the same classifier:
 *               one power iteration, xi 1e-6, eps 8.0.
 *   supervised  one step on the labelled batch alone.
 *
 * CIFAR-10-shaped random data, 32 labelled + 128 unlabelled per iteration
 * (--small: 4 + 8, for a CPU smoke run). With --model mnist the three
 * iterations are those of the presets mnist-advgen (VAT's MLP, the 16-wide
 * conv G with its normalized, centred step, relative KL), mnist-vat and
 * mnist-supervised, built as a run builds them, on MNIST-shaped random data,
 * 100 labelled + 250 unlabelled. Each iteration ends with the
 * backend's synchronize(); the number is the median after warm-up.
 *
 * Flags:
 *   --backend cuda|cpu|auto  the backend (default cuda)
 *   --model conv-large|conv-small|mnist  the classifier (default conv-large)
 *   --quick                  few repetitions (a smoke run)
 *   --small                  4 labelled + 8 unlabelled
 *   --reps N, --warmup N     repetitions timed / untimed
 *   --threads N              CPU threads (CPU backend, and PyTorch on the CPU)
 *   --torch PYTHON           also run bench/torch_gpu_reference.py with PYTHON
 *                            (e.g. /usr/bin/python3) on the same device kind
 *   --torch-args "..."       extra arguments for it (e.g. "--no-tf32")
 *   --precision fp32|bf16    what our convolutions and GEMMs compute in; with bf16
 *                            our fp32 is timed too, in the same run
 *   --json FILE              write the results as JSON
 *   --profile                CPU only: the advgen iteration's time by step
 *                            (C step, G step) and kernel, what is spent
 *                            outside kernels, and one evaluation on 10,000
 *                            images with G's diagnostics, as a share of
 *                            1000 iterations (the presets' eval interval)
 * @module
 */
import type { Backend } from "../src/backend/backend.ts";
import { type BackendKind, openBackend } from "../src/backend/mod.ts";
import { scope, Tensor } from "../src/autograd/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import { Rng } from "../src/ops/random.ts";
import { Adam } from "../src/nn/optim.ts";
import { convLarge, convSmall } from "../src/models/convnet.ts";
import { convGenerator } from "../src/models/generator.ts";
import { AdvGen, LITERAL_ADVGEN } from "../src/methods/advgen.ts";
import { Supervised } from "../src/methods/supervised.ts";
import { Vat } from "../src/methods/vat.ts";
import type { Batch, Method } from "../src/methods/method.ts";
import type { Module } from "../src/nn/module.ts";
import { BUILTIN } from "../src/registry/mod.ts";
import { resolveRun } from "../src/registry/resolve.ts";
import { buildMethod } from "../src/registry/setup.ts";
import { UserError } from "../src/util/errors.ts";
import type { OptionSpec } from "../src/util/options.ts";
import { helpText, parseFlags } from "../src/cli/args.ts";
import { noGrad } from "../src/autograd/tape.ts";
import { KernelProfile } from "./profile.ts";

const OPTIONS: Record<string, OptionSpec> = {
  backend: {
    kind: "choice",
    choices: ["cuda", "cpu", "auto"],
    default: "cuda",
    help: "the backend",
  },
  model: {
    kind: "choice",
    choices: ["conv-large", "conv-small", "mnist"],
    default: "conv-large",
    help:
      "the classifier: VAT's Conv-Large or Conv-Small (CIFAR-10 widths), or the MNIST presets (VAT's MLP)",
  },
  quick: { kind: "bool", default: false, help: "few repetitions (a smoke run)" },
  small: { kind: "bool", default: false, help: "4 labelled + 8 unlabelled" },
  reps: { kind: "int", min: 1, max: 1e6, help: "repetitions timed" },
  warmup: { kind: "int", min: 0, max: 1e6, help: "repetitions untimed" },
  threads: {
    kind: "int",
    min: 0,
    max: 1024,
    default: 0,
    help: "CPU threads (CPU backend, and PyTorch on the CPU; 0: all)",
  },
  torch: {
    kind: "string",
    metavar: "PYTHON",
    help: "also run bench/torch_gpu_reference.py with PYTHON on the same device kind",
  },
  torchArgs: {
    kind: "string",
    metavar: "ARGS",
    help: 'extra arguments for it (e.g. "--no-tf32")',
  },
  precision: {
    kind: "choice",
    choices: ["fp32", "bf16"],
    default: "fp32",
    help: "what our convolutions and GEMMs compute in (PyTorch stays float32)",
  },
  json: { kind: "string", metavar: "FILE", help: "write the results as JSON" },
  profile: {
    kind: "bool",
    default: false,
    help:
      "CPU only: where the paper's-method iteration's time goes (each step's kernels and TypeScript), and an evaluation's share",
  },
};

const parsed = parseFlags(Deno.args, OPTIONS);
if (parsed.help) {
  console.log(
    helpText("deno task bench-gpu [flags]", "Times training iterations against PyTorch.", OPTIONS),
  );
  Deno.exit(0);
}
const flags = parsed.values as {
  backend: BackendKind;
  model: "conv-large" | "conv-small" | "mnist";
  quick: boolean;
  small: boolean;
  reps?: number;
  warmup?: number;
  threads: number;
  torch?: string;
  torchArgs?: string;
  precision: "fp32" | "bf16";
  json?: string;
  profile: boolean;
};
let be: Backend;
try {
  be = await openBackend(flags.backend, { threads: flags.threads, precision: flags.precision });
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  console.error(`error: ${e.message}`);
  Deno.exit(2);
}
const onGpu = be.name !== "cpu";
if (flags.profile && onGpu) {
  console.error(
    "error: Cannot use --profile with a GPU backend: CUDA kernels return at launch, so their calls cannot be timed one by one",
  );
  Deno.exit(2);
}
const mnist = flags.model === "mnist";
const [nl, nul] = flags.small ? [4, 8] : mnist ? [100, 250] : [32, 128];
const warmup = flags.warmup ?? (flags.quick ? (onGpu ? 3 : 1) : 5);
const reps = flags.reps ?? (flags.quick ? (onGpu ? 5 : 2) : 30);

/** Median milliseconds of one iteration of `method`, synchronising after each. */
function medianMs(method: Method, batch: Batch): number {
  let it = 0;
  const once = () => {
    const t0 = performance.now();
    scope(() => method.step(batch, it++));
    be.synchronize();
    return performance.now() - t0;
  };
  for (let i = 0; i < warmup; i++) once();
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Median milliseconds of one iteration of `method`, whose modules are then freed. */
function timeAndFree(method: Method, batch: Batch): number {
  const ms = medianMs(method, batch);
  for (const m of Object.values(method.modules)) m.dispose();
  return ms;
}

/** The three methods' iterations in milliseconds, each built, timed and freed in turn. */
function timeMethods(batch: Batch, make: (kind: "advgen" | "vat" | "supervised") => Method) {
  const out: Record<string, number> = {};
  for (const kind of ["advgen", "vat", "supervised"] as const) {
    out[kind] = timeAndFree(make(kind), batch);
  }
  return out as Record<"advgen" | "vat" | "supervised", number>;
}

const rng = new Rng(0);
const data = rng.fork();
const image = mnist ? [1, 28, 28] : [3, 32, 32];
const batch: Batch = {
  xl: ops.randn(be, [nl, ...image], data),
  yl: Tensor.from(be, Array.from({ length: nl }, (_, i) => i % 10), [nl]),
  xul: ops.randn(be, [nul, ...image], data),
};
const modelName = mnist
  ? "MNIST presets (VAT's MLP; mnist-advgen's conv G)"
  : flags.model === "conv-small"
  ? "Conv-Small"
  : "Conv-Large";

const build = mnist
  ? (kind: "advgen" | "vat" | "supervised", on: Backend = be, runFlags = {}) => {
    // Each preset as a run resolves and builds it.
    const cfg = resolveRun(BUILTIN, { preset: `mnist-${kind}`, flags: runFlags });
    const root = new Rng(1);
    return buildMethod(on, BUILTIN, cfg, { shape: image, classes: 10 }, root, root.fork());
  }
  : (kind: "advgen" | "vat" | "supervised", on: Backend = be) => {
    const cifar = { inChannels: 3, classes: 10 };
    const c = flags.model === "conv-small"
      ? convSmall(on, rng.fork(), cifar)
      : convLarge(on, rng.fork(), cifar);
    const adam = (m: Module) => new Adam(m.parameters(), { lr: 1e-3 });
    if (kind === "supervised") return new Supervised(c, adam(c));
    if (kind === "vat") {
      return new Vat(c, adam(c), rng.fork(), {
        eps: 8.0,
        xi: 1e-6,
        iterations: 1,
        beta: 1,
        entminWeight: 0,
      });
    }
    // The paper's method: one C step and one G step.
    const g = convGenerator(on, rng.fork(), [3, 32, 32], 32, 64, {
      zDim: 16,
      output: { mode: "bounded", bound: 0.3, center: false },
    });
    return new AdvGen(c, g, adam(c), adam(g), LITERAL_ADVGEN);
  };
const ms = timeMethods(batch, (kind) => build(kind));
// With bf16, our fp32 in the same run: the speed-up.
const fp32 = be.computePrecision === "bf16"
  ? be.withComputePrecision("fp32", () => timeMethods(batch, (kind) => build(kind)))
  : null;
const [advgenMs, vatMs, supervisedMs] = [ms.advgen, ms.vat, ms.supervised];
// MNIST: the preset's iteration in the other step order (one clean pass of C shared), same run.
const generatorFirstMs = mnist
  ? timeAndFree(build("advgen", be, { stepOrder: "generator-first" }), batch)
  : null;

/** What bench/torch_gpu_reference.py prints on its last line. */
interface TorchResult {
  advgen_ms: number;
  vat_ms: number;
  supervised_ms: number;
  device: string;
  torch: string;
  [k: string]: unknown;
}

/** PyTorch's timings of the same two iterations, or why there are none. */
async function torchTimings(python: string): Promise<TorchResult | string> {
  const script = new URL("./torch_gpu_reference.py", import.meta.url).pathname;
  const args = [
    script,
    "--device",
    onGpu ? "cuda" : "cpu",
    "--model",
    flags.model,
    "--labelled",
    String(nl),
    "--unlabelled",
    String(nul),
    "--warmup",
    String(warmup),
    "--reps",
    String(reps),
    ...(onGpu ? [] : ["--threads", String(be.threads())]),
    ...(flags.torchArgs ?? "").split(/\s+/).filter((a) => a),
  ];
  try {
    const r = await new Deno.Command(python, {
      args,
      env: { OMP_WAIT_POLICY: "PASSIVE" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(r.stdout).trim().split("\n").at(-1) ?? "";
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-5).join("\n");
      return `${python} ${script} failed (exit ${r.code}): ${err}`;
    }
    return JSON.parse(out) as TorchResult;
  } catch (e) {
    return `Cannot run ${python}: ${(e as Error).message}`;
  }
}

const torch = flags.torch ? await torchTimings(flags.torch) : "not run (pass --torch PYTHON)";
const ref = typeof torch === "string" ? null : torch;

const fmt = (v: number) => v.toFixed(2);
const rows = [
  ["advgen iteration (C step + G step)", advgenMs, ref?.advgen_ms],
  ["VAT iteration", vatMs, ref?.vat_ms],
  ["supervised iteration", supervisedMs, ref?.supervised_ms],
] as const;
console.log(
  `advssl bench-gpu: ${be.name} backend${onGpu ? "" : `, ${be.threads()} threads`}, ` +
    `${be.computePrecision}${be.cpuIsa() ? ` (oneDNN ISA ${be.cpuIsa()})` : ""}; ` +
    `${modelName}, ${nl} labelled + ${nul} unlabelled, median of ${reps} after ${warmup} warm-up`,
);
console.log(
  ref ? `PyTorch ${ref.torch} on ${ref.device}` : `PyTorch: ${torch}`,
);
const table = [
  ["benchmark", "ours ms", "PyTorch ms", "ratio", "target"],
  ...rows.map(([name, ours, theirs]) => [
    name,
    fmt(ours),
    theirs === undefined ? "-" : fmt(theirs),
    theirs === undefined ? "-" : fmt(ours / theirs),
    "<= 1.0",
  ]),
  ...(fp32
    ? ([["advgen", advgenMs], ["VAT", vatMs], ["supervised", supervisedMs]] as const).map((
      [kind, bf16],
    ) => {
      const ref = fp32[kind === "VAT" ? "vat" : kind];
      return [
        `  ${kind}: bf16 against our fp32`,
        fmt(bf16),
        `fp32 ${fmt(ref)}`,
        fmt(bf16 / ref),
        "-",
      ];
    })
    : []),
  ...(generatorFirstMs !== null
    ? [[
      "  advgen: --step-order generator-first against the preset's",
      fmt(generatorFirstMs),
      `preset ${fmt(advgenMs)}`,
      fmt(generatorFirstMs / advgenMs),
      "-",
    ]]
    : []),
];
/** Prints a table of rows (the first is the header) in Markdown. */
function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(table[0]));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of table.slice(1)) console.log(line(r));
}
printTable(table);

if (flags.profile) {
  // The advgen iteration again on a timed backend: its C and G steps, then one evaluation.
  const profile = new KernelProfile(be);
  const pbe = profile.backend;
  const method = build("advgen", pbe) as AdvGen;
  const xul = ops.randn(pbe, [nul, ...image], data);
  const pbatch = {
    xl: ops.randn(pbe, [nl, ...image], data),
    yl: Tensor.from(pbe, Array.from({ length: nl }, (_, i) => i % 10), [nl]),
    xul,
  };
  const iteration = (it: number) =>
    scope(() => {
      profile.phase("C step", () => method.classifierStep(pbatch));
      profile.phase("G step", () => method.generatorStep(xul, it));
    });
  for (let i = 0; i < warmup; i++) iteration(i);
  profile.reset();
  for (let i = 0; i < reps; i++) iteration(warmup + i);
  const evalImages = 10_000, evalChunk = 1000;
  const testChunk = ops.randn(pbe, [evalChunk, ...image], data);
  const diagnosed = ops.randn(pbe, [256, ...image], data);
  const evaluation = () =>
    scope(() =>
      noGrad(() => {
        const c = method.classifier;
        c.eval();
        for (let at = 0; at < evalImages; at += evalChunk) c.forward(testChunk);
        c.train();
        method.diagnose(diagnosed);
      })
    );
  evaluation(); // warm-up: the eval batch's shapes are new
  const evalRuns = 3;
  for (let i = 0; i < evalRuns; i++) profile.phase("evaluation", evaluation);
  for (const m of Object.values(method.modules)) m.dispose();
  for (const t of [...Object.values(pbatch), testChunk, diagnosed]) t.dispose();
  console.log(`\nProfile of the advgen iteration (${reps} iterations after ${warmup}):`);
  printTable(profile.table(["C step", "G step"], reps));
  const evalRows = profile.table(["evaluation"], evalRuns);
  console.log(
    `\nOne evaluation (${evalImages} images, then G's diagnostics on 256; ${evalRuns} runs): ` +
      `${evalRows[1][1]} ms, ${
        ((100 * Number(evalRows[1][1])) / (1000 * advgenMs)).toFixed(2)
      } % of 1000 iterations (the presets' eval interval)`,
  );
  printTable(evalRows);
}
for (const t of Object.values(batch)) t.dispose();

if (flags.json) {
  const result = {
    backend: be.name,
    threads: onGpu ? undefined : be.threads(),
    labelled: nl,
    unlabelled: nul,
    warmup,
    reps,
    model: flags.model,
    precision: be.computePrecision,
    cpu_isa: be.cpuIsa(),
    ours: {
      advgen_ms: advgenMs,
      vat_ms: vatMs,
      supervised_ms: supervisedMs,
      ...(generatorFirstMs !== null ? { advgen_generator_first_ms: generatorFirstMs } : {}),
    },
    ours_fp32: fp32
      ? { advgen_ms: fp32.advgen, vat_ms: fp32.vat, supervised_ms: fp32.supervised }
      : null,
    torch: torch,
    ratio: ref
      ? {
        advgen: advgenMs / ref.advgen_ms,
        vat: vatMs / ref.vat_ms,
        supervised: supervisedMs / ref.supervised_ms,
      }
      : null,
  };
  await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2) + "\n");
}
