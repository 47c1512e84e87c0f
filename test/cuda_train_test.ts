/**
 * The command line end to end on the CUDA backend: the three methods train on
 * two circles and agree with the CPU at the first logged losses, and an
 * interrupted GPU run resumed from its checkpoint (written from and read back
 * into device memory) ends with the same weights as an uninterrupted one.
 * Runs where there is a GPU, or an emulated CUDA library (ADVSSL_CUDA_LIBRARY).
 */
import assert from "node:assert/strict";
import { hasNvidiaGpu } from "../src/backend/cuda.ts";
import { readCheckpoint } from "../src/nn/checkpoint.ts";

const gpu = hasNvidiaGpu();
const skip = gpu ? "" : " (skipped: no NVIDIA GPU on this machine)";
import { train } from "./commands.ts";

async function firstLosses(dir: string): Promise<Record<string, number>> {
  const line = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).split("\n")[0];
  const { iteration: _, rate: __, time: ___, ...losses } = JSON.parse(line);
  return losses;
}

Deno.test({
  name:
    `cuda train: supervised, VAT and the paper's method on two circles agree with the CPU${skip}`,
  ignore: !gpu,
  async fn() {
    const dir = await Deno.makeTempDir();
    for (const method of ["supervised", "vat", "advgen"]) {
      const common = [
        "--method",
        method,
        "--iterations",
        "40",
        "--log-interval",
        "1",
        "--no-figure",
      ];
      const runs: Record<string, Record<string, number>> = {};
      for (const backend of ["cpu", "cuda"]) {
        const out = `${dir}/${method}-${backend}`;
        const r = await train(...common, "--backend", backend, "--out", out);
        assert.equal(r.code, 0, `${method} on ${backend}: ${r.err}`);
        const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
        assert(Number.isFinite(summary.test_error), `${method} on ${backend}: no test error`);
        runs[backend] = await firstLosses(out);
      }
      // The first step's losses: the same data, weights and noise on both backends.
      for (const [k, v] of Object.entries(runs.cpu)) {
        const got = runs.cuda[k];
        assert(
          Math.abs(got - v) <= 1e-3 * Math.abs(v) + 1e-6,
          `${method}: ${k} at the first step is ${got} on cuda, ${v} on the CPU`,
        );
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    `cuda train: an interrupted GPU run resumed from its checkpoint ends with the same weights${skip}`,
  ignore: !gpu,
  async fn() {
    const dir = await Deno.makeTempDir();
    const common = [
      "--backend",
      "cuda",
      "--iterations",
      "30",
      "--checkpoint-interval",
      "10",
      "--no-figure",
    ];
    assert.equal((await train(...common, "--out", `${dir}/whole`)).code, 0);
    const stopped = await train(...common, "--out", `${dir}/parts`, "--stop-after", "15");
    assert.equal(stopped.code, 0, stopped.err);
    const resumed = await train("--resume", `${dir}/parts`);
    assert.equal(resumed.code, 0, resumed.err);
    const a = (await readCheckpoint(`${dir}/whole/checkpoint.bin`)).data;
    const b = (await readCheckpoint(`${dir}/parts/checkpoint.bin`)).data;
    assert.equal(a.length, b.length);
    const firstDiff = a.findIndex((v, i) => v !== b[i]);
    assert.equal(firstDiff, -1, `the checkpoints differ from byte ${firstDiff} of the tensor data`);
    await Deno.remove(dir, { recursive: true });
  },
});
