import assert from "node:assert/strict";
import { hasNvidiaGpu } from "../src/backend/cuda.ts";

const main = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

Deno.test("train: a bad flag or value is one line on stderr and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--no-such-flag"], /--no-such-flag: unknown flag/],
    [["--iterations", "ten"], /--iterations: expected an integer/],
    [["--method", "magic"], /--method: expected one of supervised, vat, advgen/],
    [["--noise", "-1"], /--noise: -1 is out of range/],
    [["--lr"], /--lr: it needs a value/],
    [["--preset", "nope"], /--preset nope: no such preset/],
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

Deno.test("train: --help lists every flag with its default", async () => {
  const r = await train("--help");
  assert.equal(r.code, 0);
  for (
    const flag of [
      "--dataset",
      "--method",
      "--labels",
      "--ul-batch-size",
      "--lambda",
      "--resume",
      "--config",
    ]
  ) {
    assert(r.out.includes(flag), `--help lacks ${flag}`);
  }
  assert.match(r.out, /--lr N +.*\(default 0\.001\)/);
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
  const a = await Deno.readFile(`${dir}/whole/checkpoint.bin`);
  const b = await Deno.readFile(`${dir}/parts/checkpoint.bin`);
  // Same tensors to the bit; the headers differ only in the recorded seconds.
  const dataOf = (x: Uint8Array) => x.subarray(12 + new DataView(x.buffer).getUint32(8, true));
  const [da, db] = [dataOf(a), dataOf(b)];
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
    const read = async (p: string) => {
      const x = await Deno.readFile(p);
      return x.subarray(12 + new DataView(x.buffer).getUint32(8, true));
    };
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
