import assert from "node:assert/strict";
import { hasNvidiaGpu } from "../src/backend/cuda.ts";
import { readCheckpoint } from "../src/nn/checkpoint.ts";
import { train } from "./commands.ts";

Deno.test("train: a bad flag or value is one line on stderr and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--no-such-flag"], /--no-such-flag: unknown flag/],
    [["--iterations", "ten"], /--iterations: expected an integer/],
    [["--method", "magic"], /--method: expected one of supervised, vat, advgen/],
    [["--noise", "-1"], /--noise: -1 is out of range/],
    [["--lr"], /--lr: it needs a value/],
    [["--preset", "nope"], /--preset nope: no such preset/],
    [["--iterations", "5", "--iterations", "6"], /--iterations: it is given twice/],
    [["--out", ""], /--out: expected a non-empty value/],
    [["--hidden", "10,x"], /--hidden: expected a comma-separated list of integers/],
    // where there is a GPU, --backend cuda is no mistake
    ...(hasNvidiaGpu() ? [] : [[["--backend", "cuda"], /--backend cuda: no GPU/]] as [
      string[],
      RegExp,
    ][]),
  ];
  for (const [args, message] of cases) {
    const r = await train(...args);
    assert.equal(r.code, 2, `${args}: exit code ${r.code}`);
    const lines = r.err.trim().split("\n");
    assert.equal(lines.length, 1, `${args}: ${r.err}`);
    assert.match(lines[0], /^error: Cannot /);
    assert.match(lines[0], message);
  }
});

/** The option values a --help text prints: flag -> value column. */
function helpValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^\s+--([a-z0-9-]+)(?: \S+)?\s{2,}(\S+)\s{2,}\S/);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const shown = (v: unknown) => v === null ? "-" : Array.isArray(v) ? v.join(",") : String(v);

Deno.test("train: --help prints exactly the options and values the run uses", async () => {
  const dir = await Deno.makeTempDir();
  const runs: string[][] = [
    [],
    ["--preset", "circles-supervised"],
    ["--preset", "circles-vat", "--eps", "0.3"],
    ["--preset", "circles-advgen-literal"],
    ["--method", "advgen", "--g-output", "bounded", "--g-bound", "0.2"],
  ];
  for (const [i, args] of runs.entries()) {
    const help = await train("--help", ...args, "--iterations", "3");
    assert.equal(help.code, 0, help.err);
    const printed = helpValues(help.out);
    const out = `${dir}/${i}`;
    const run = await train(...args, "--iterations", "3", "--out", out);
    assert.equal(run.code, 0, run.err);
    const { preset, out: _, ...cfg } = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.match(help.out, new RegExp(`starts from preset ${preset}:`), `${args}`);
    const expected = Object.fromEntries(
      Object.entries(cfg).filter(([k]) => k !== "out").map(([k, v]) => [flagOf(k), shown(v)]),
    );
    delete printed.out;
    delete printed.preset; // the other flags have no value column
    assert.deepEqual(printed, expected, `--help ${args.join(" ")} differs from the run's config`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: an option that does not apply to the run is one line and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--eps", "2"], /--eps: it applies to --method vat, not advgen/],
    [["--method", "vat", "--lambda", "2"], /--lambda: it applies to --method advgen, not vat/],
    [
      ["--g-output", "free", "--g-center"],
      /--g-center: it applies to --g-output residual, bounded, normalized or latent, not free/,
    ],
    [
      ["--g-radius", "1", "--g-output", "bounded", "--g-bound", "1"],
      /--g-radius: it applies to --g-output normalized or latent, not bounded/,
    ],
    [
      ["--dataset", "mnist", "--noise", "0.1"],
      /--noise: it applies to --dataset circles, not mnist/,
    ],
    [
      ["--method", "supervised", "--ul-batch-size", "9"],
      /--ul-batch-size: it applies to --method vat or advgen, not supervised/,
    ],
    [["--backend", "cpu", "--tf32"], /--tf32: it applies to --backend cuda or auto, not cpu/],
    [
      ["--preset", "circles-vat", "--method", "advgen"],
      /preset circles-vat: it is a preset for --method vat/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await train(...args, "--iterations", "1");
    assert.equal(r.code, 2, `${args}: exit code ${r.code}`);
    const lines = r.err.trim().split("\n");
    assert.equal(lines.length, 1, `${args}: ${r.err}`);
    assert.match(lines[0], /^error: Cannot /);
    assert.match(lines[0], message);
  }
});

Deno.test("train: the saved configuration holds only the options that apply", async () => {
  const dir = await Deno.makeTempDir();
  const r = await train("--method", "supervised", "--iterations", "2", "--out", dir, "--no-figure");
  assert.equal(r.code, 0, r.err);
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  assert.equal(cfg.preset, "circles-supervised");
  for (const k of ["eps", "alpha", "lambda", "ulBatchSize", "gOutput", "batchSize", "dataDir"]) {
    assert(!(k in cfg), `a supervised circles run saved ${k}`);
  }
  for (const k of ["noise", "hidden", "iterations", "lr", "threads"]) assert(k in cfg, k);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: a run writes its folder, and a config file sets options that flags override", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/cfg.json`,
    JSON.stringify({ method: "vat", iterations: 30, "log-interval": 10 }),
  );
  const r = await train("--config", `${dir}/cfg.json`, "--iterations", "20", "--out", `${dir}/run`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /circles \(noise 0\.06\) vat: test error \d+\.\d+% after 20 iterations/);
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`));
  assert.equal(cfg.method, "vat");
  assert.equal(cfg.iterations, 20);
  const metrics = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n").map((
    l,
  ) => JSON.parse(l));
  assert.deepEqual(metrics.filter((m) => m.nll !== undefined).map((m) => m.iteration), [10, 20]);
  for (const f of ["summary.json", "checkpoint.bin", "boundary.png"]) {
    await Deno.stat(`${dir}/run/${f}`);
  }
  const again = await train("--out", `${dir}/run`, "--iterations", "5");
  assert.equal(again.code, 2, "a second run into the same folder must be refused");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: an interrupted run resumed from its checkpoint ends with the same weights", async () => {
  const dir = await Deno.makeTempDir();
  const common = [
    "--iterations",
    "40",
    "--checkpoint-interval",
    "10",
    "--ul-batch-size",
    "300",
    "--no-figure",
  ];
  assert.equal((await train(...common, "--out", `${dir}/whole`)).code, 0);
  const stopped = await train(...common, "--out", `${dir}/parts`, "--stop-after", "25");
  assert.equal(stopped.code, 0, stopped.err);
  assert.match(stopped.out, /stopped at iteration 25\/40/);
  const resumed = await train("--resume", `${dir}/parts`);
  assert.equal(resumed.code, 0, resumed.err);
  assert.match(resumed.out, /resuming .* at iteration 20\/40/);
  // Same tensors to the bit; the headers differ only in the recorded seconds.
  const da = (await readCheckpoint(`${dir}/whole/checkpoint.bin`)).data;
  const db = (await readCheckpoint(`${dir}/parts/checkpoint.bin`)).data;
  assert.equal(da.length, db.length);
  const firstDiff = da.findIndex((v, i) => v !== db[i]);
  assert.equal(firstDiff, -1, `the checkpoints differ from byte ${firstDiff} of the tensor data`);
  assert.equal((await train("--resume", `${dir}/parts`, "--iterations", "50")).code, 2);
  await Deno.remove(dir, { recursive: true });
});

const mnistDir = new URL("../../shared/data", import.meta.url).pathname;
const haveMnist = (() => {
  try {
    return Deno.statSync(`${mnistDir}/mnist/train-images-idx3-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "train: VAT on the real MNIST, streamed by the worker, resumes to the same weights",
  ignore: !haveMnist,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const common = [
      "--dataset",
      "mnist",
      "--method",
      "vat",
      "--data-dir",
      mnistDir,
      "--labels",
      "100",
      "--batch-size",
      "20",
      "--ul-batch-size",
      "50",
      "--iterations",
      "8",
      "--checkpoint-interval",
      "4",
      "--eval-interval",
      "8",
    ];
    const whole = await train(...common, "--out", `${dir}/whole`);
    assert.equal(whole.code, 0, whole.err);
    assert.match(whole.out, /mnist vat: test error \d+\.\d+% after 8 iterations/);
    assert.equal((await train(...common, "--out", `${dir}/parts`, "--stop-after", "6")).code, 0);
    const resumed = await train("--resume", `${dir}/parts`);
    assert.equal(resumed.code, 0, resumed.err);
    const read = async (p: string) => (await readCheckpoint(p)).data;
    const [a, b] = [
      await read(`${dir}/whole/checkpoint.bin`),
      await read(`${dir}/parts/checkpoint.bin`),
    ];
    assert.equal(
      a.findIndex((v, i) => v !== b[i]),
      -1,
      "the resumed MNIST run ended with other weights",
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("train: with --ema, every method logs the averaged C's test error and the raw C's", async () => {
  const dir = await Deno.makeTempDir();
  for (const method of ["advgen", "vat", "supervised"]) {
    const common = [
      "--method",
      method,
      "--iterations",
      "40",
      "--eval-interval",
      "20",
      "--no-figure",
    ];
    const ema = `${dir}/${method}-ema`, raw = `${dir}/${method}-raw`;
    assert.equal((await train(...common, "--ema", "0.9", "--out", ema)).code, 0);
    assert.equal((await train(...common, "--out", raw)).code, 0);
    const evals = (run: string) =>
      Deno.readTextFileSync(`${run}/metrics.jsonl`).trim().split("\n")
        .map((l) => JSON.parse(l)).filter((m) => m.test_error !== undefined);
    const [averaged, plain] = [evals(ema), evals(raw)];
    assert.deepEqual(averaged.map((m) => m.iteration), [20, 40], method);
    // The average changes only what is evaluated: the raw C trains as without it.
    assert.deepEqual(averaged.map((m) => m.c_test_error), plain.map((m) => m.test_error), method);
    assert(plain.every((m) => m.c_test_error === undefined), method);
    assert.notDeepEqual(averaged.map((m) => m.test_error), plain.map((m) => m.test_error), method);
  }
  // The average is part of the checkpoint: a resumed run ends with the same one.
  const common = ["--method", "vat", "--ema", "0.9", "--iterations", "40", "--no-figure"];
  assert.equal(
    (await train(
      ...common,
      "--checkpoint-interval",
      "10",
      "--out",
      `${dir}/parts`,
      "--stop-after",
      "25",
    )).code,
    0,
  );
  assert.equal((await train("--resume", `${dir}/parts`)).code, 0);
  const whole = (await readCheckpoint(`${dir}/vat-ema/checkpoint.bin`)).data;
  const parts = (await readCheckpoint(`${dir}/parts/checkpoint.bin`)).data;
  assert.equal(whole.length, parts.length);
  assert.equal(whole.findIndex((v, i) => v !== parts[i]), -1, "the resumed average differs");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: advgen logs G's diagnostics at each evaluation, and they change nothing in training", async () => {
  const dir = await Deno.makeTempDir();
  const common = ["--iterations", "60", "--checkpoint-interval", "60", "--no-figure"];
  assert.equal((await train(...common, "--eval-interval", "20", "--out", `${dir}/a`)).code, 0);
  assert.equal((await train(...common, "--eval-interval", "60", "--out", `${dir}/b`)).code, 0);
  const a = await readCheckpoint(`${dir}/a/checkpoint.bin`);
  const b = await readCheckpoint(`${dir}/b/checkpoint.bin`);
  assert.equal(Buffer.compare(a.data, b.data), 0, "evaluating more often changed the weights");
  assert.deepEqual(a.header.rngs, b.header.rngs);
  const evals = Deno.readTextFileSync(`${dir}/a/metrics.jsonl`).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((m) => m.test_error !== undefined);
  assert.deepEqual(evals.map((m) => m.iteration), [20, 40, 60]);
  for (const m of evals) {
    // circles-advgen: G's step is normalized to radius 0.1, so every sample's L2 is 0.1.
    assert(Math.abs(m.g_l2 - 0.1) < 1e-5, `g_l2 ${m.g_l2}`);
    assert(m.g_linf > 0 && m.g_linf <= m.g_l2 + 1e-9, `g_linf ${m.g_linf}`);
    assert(m.g_flip >= 0 && m.g_flip <= 1 && m.g_kl >= 0 && m.g_vat_kl >= 0, JSON.stringify(m));
    for (const c of [m.g_pair_cos, m.g_vat_cos]) assert(c >= -1 && c <= 1, `cosine ${c}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("progress: slow work is silent while quick, then prints the samples done and the time left", async () => {
  const { slowWork } = await import("../src/cli/progress.ts");
  const lines: string[] = [];
  const quick = slowWork((l) => void lines.push(l));
  for (let done = 1000; done <= 10000; done += 1000) quick(done, 10000);
  assert.equal(lines.length, 0, lines.join("\n"));
  const slow = slowWork((l) => void lines.push(l), "evaluating", 0, 0);
  await new Promise((r) => setTimeout(r, 20));
  slow(2500, 10000);
  slow(10000, 10000); // the last chunk: the caller prints the result itself
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^evaluating: 2500\/10000 test samples \(0s, about 0s left\)$/);
});

Deno.test("train: --g-reset restarts G at its interval, and a resumed run restarts it the same way", async () => {
  const dir = await Deno.makeTempDir();
  const common = ["--iterations", "60", "--checkpoint-interval", "20", "--no-figure"];
  const data = async (p: string) => (await readCheckpoint(`${dir}/${p}/checkpoint.bin`)).data;
  const same = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((v, i) => v === b[i]);
  for (const [name, extra] of [["plain", []], ["reset", ["--g-reset", "20"]]] as const) {
    const r = await train(...common, ...extra, "--stop-after", "20", "--out", `${dir}/${name}-20`);
    assert.equal(r.code, 0, r.err);
  }
  // Before the first reset, the two runs are the same run.
  assert(
    same(await data("plain-20"), await data("reset-20")),
    "--g-reset changed the first 20 steps",
  );
  assert.equal((await train(...common, "--g-reset", "20", "--out", `${dir}/whole`)).code, 0);
  assert.equal((await train(...common, "--out", `${dir}/plain`)).code, 0);
  assert(!same(await data("whole"), await data("plain")), "--g-reset 20 changed nothing");
  const resumed = await train("--resume", `${dir}/reset-20`);
  assert.equal(resumed.code, 0, resumed.err);
  assert(same(await data("whole"), await data("reset-20")), "the resumed run reset G differently");
  await Deno.remove(dir, { recursive: true });
});
