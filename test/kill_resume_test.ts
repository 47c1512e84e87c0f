/**
 * Fault injection: a training process killed with SIGKILL at pseudo-random
 * moments (a checkpoint every iteration, so many kills land inside a
 * checkpoint write), resumed each time, ends with the weights, optimiser
 * state and random streams of an uninterrupted run, byte for byte, and with
 * no temporary file left in its folder.
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../src/nn/checkpoint.ts";
import { TEMP_NAME } from "../src/util/fs.ts";
import { startTrain, train } from "./commands.ts";

const ITERATIONS = 500;
const KILLS = 20;
/** Kills that must have hit a checkpoint write (a temporary file was left behind). */
const KILLS_IN_WRITES = 3;

Deno.test("fault injection: 20+ kill -9 at random moments, resumed each time, end byte-identical to an uninterrupted run", async () => {
  const dir = await Deno.makeTempDir();
  // 256x256 hidden layers make a checkpoint of about 1 MB: writing it is most of an iteration.
  const args = [
    "--iterations",
    String(ITERATIONS),
    "--checkpoint-interval",
    "1",
    "--log-interval",
    "10",
    "--eval-interval",
    String(ITERATIONS),
    "--hidden",
    "256,256",
    "--no-figure",
  ];
  const whole = await train(...args, "--out", `${dir}/whole`);
  assert.equal(whole.code, 0, whole.err);

  const run = `${dir}/killed`;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let kills = 0, inWrites = 0, finished = false;
  for (let attempt = 0; attempt < 100 && (kills < KILLS || inWrites < KILLS_IN_WRITES); attempt++) {
    const command = attempt === 0 ? [...args, "--out", run] : ["--resume", run];
    const { child } = await startTrain(/^(run|resuming) /m, ...command);
    await new Promise((r) => setTimeout(r, random() * 120));
    child.kill("SIGKILL");
    const status = await child.status;
    if (status.success) {
      finished = true;
      break;
    }
    kills++;
    if ([...Deno.readDirSync(run)].some((e) => TEMP_NAME.test(e.name))) inWrites++;
  }
  assert(!finished, `the run finished after only ${kills} kills: make it longer`);
  assert(kills >= KILLS, `only ${kills} kills`);
  assert(inWrites >= KILLS_IN_WRITES, `only ${inWrites} of ${kills} kills hit a checkpoint write`);
  const last = await train("--resume", run);
  assert.equal(last.code, 0, last.err);

  const a = await readCheckpoint(`${dir}/whole/checkpoint.bin`);
  const b = await readCheckpoint(`${run}/checkpoint.bin`);
  assert.equal(Buffer.compare(a.data, b.data), 0, "the killed run ended with other tensors");
  assert.deepEqual(b.header.rngs, a.header.rngs);
  assert.deepEqual(b.header.optimizers, a.header.optimizers);
  assert.equal((b.header.state as { iteration: number }).iteration, ITERATIONS);
  const left = [...Deno.readDirSync(run)].map((e) => e.name).filter((n) => TEMP_NAME.test(n));
  assert.deepEqual(left, [], "temporary files were left behind");
  const strip = (p: string) =>
    Deno.readTextFileSync(p).trim().split("\n").map((l) => JSON.parse(l))
      .map(({ rate: _, time: __, ...rest }) => rest);
  assert.deepEqual(strip(`${run}/metrics.jsonl`), strip(`${dir}/whole/metrics.jsonl`));
  console.log(`${kills} kills, ${inWrites} inside a checkpoint write`);
  await Deno.remove(dir, { recursive: true });
});
