/**
 * Graceful stop (src/cli/main.ts, stopOnSignals): SIGTERM, SIGUSR1 or a
 * Ctrl-C makes a run finish its step, write a checkpoint there and exit with
 * the shell's code for the signal; `--resume` then ends byte-identical to an
 * uninterrupted run. A second signal stops at once and keeps the last
 * checkpoint on disk.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readCheckpoint } from "../src/nn/checkpoint.ts";
import { TEMP_NAME } from "../src/util/fs.ts";
import { train } from "./commands.ts";

const ITERATIONS = 300;
// Only the last iteration's checkpoint is due: any other one on disk is the stop's.
const ARGS = [
  "--iterations",
  String(ITERATIONS),
  "--checkpoint-interval",
  String(ITERATIONS),
  "--log-interval",
  "10",
  "--eval-interval",
  "200",
  "--no-figure",
  "--threads",
  "1",
];

/** Starts a run; resolves once it printed its first metrics line. */
async function started(args: string[]) {
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!/^iteration \d+\/\d+ /m.test(stdout)) {
    const { value, done } = await out.read();
    if (done) throw new Error(`the run ended before its first metrics line: ${stdout}`);
    stdout += value;
  }
  const rest = (async () => {
    while (true) {
      const { value, done } = await out.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    child,
    /** The exit status and everything printed, once the child has ended. */
    ended: async () => ({ status: await child.status, stdout: await rest, stderr: await stderr }),
  };
}

/** The checkpoint's iteration. */
async function checkpointIteration(run: string): Promise<number> {
  return ((await readCheckpoint(`${run}/checkpoint.bin`)).header.state as { iteration: number })
    .iteration;
}

/** The run's end against the uninterrupted one's: tensors, optimisers, streams, metrics. */
async function assertSameEnd(run: string, whole: string) {
  const a = await readCheckpoint(`${whole}/checkpoint.bin`);
  const b = await readCheckpoint(`${run}/checkpoint.bin`);
  assert.equal(Buffer.compare(a.data, b.data), 0, "the stopped run ended with other tensors");
  assert.deepEqual(b.header.rngs, a.header.rngs);
  assert.deepEqual(b.header.optimizers, a.header.optimizers);
  const strip = (p: string) =>
    Deno.readTextFileSync(p).trim().split("\n").map((l) => JSON.parse(l))
      .map(({ rate: _, time: __, ...rest }) => rest);
  assert.deepEqual(strip(`${run}/metrics.jsonl`), strip(`${whole}/metrics.jsonl`));
  const summary = (p: string) => {
    const { seconds: _, ...rest } = JSON.parse(Deno.readTextFileSync(`${p}/summary.json`));
    return rest;
  };
  assert.deepEqual(summary(run), summary(whole));
  assert.deepEqual([...Deno.readDirSync(run)].filter((e) => TEMP_NAME.test(e.name)), []);
}

Deno.test("signals: SIGTERM and SIGUSR1 stop a run at a checkpoint of their own; --resume ends byte-identical", async () => {
  const dir = await Deno.makeTempDir();
  const whole = `${dir}/whole`;
  const r = await train(...ARGS, "--out", whole);
  assert.equal(r.code, 0, r.err);
  for (const [signal, code] of [["SIGTERM", 143], ["SIGUSR1", 138]] as const) {
    const run = `${dir}/${signal}`;
    const p = await started([...ARGS, "--out", run]);
    p.child.kill(signal);
    const { status, stderr } = await p.ended();
    assert.equal(status.code, code, stderr);
    const m = stderr.match(
      new RegExp(
        `^stopped by ${signal} at iteration (\\d+): the checkpoint is in ${run}/checkpoint\\.bin; continue with: deno task train --resume ${run}$`,
        "m",
      ),
    );
    assert(m, stderr);
    assert(!/error:|\n\s+at /.test(stderr), stderr);
    const at = Number(m[1]);
    assert(at > 0 && at < ITERATIONS, `stopped at ${at}`);
    assert.equal(await checkpointIteration(run), at);
    assert(Deno.statSync(`${run}/report.html`).isFile);
    const resumed = await train("--resume", run);
    assert.equal(resumed.code, 0, resumed.err);
    assert.match(
      resumed.out,
      new RegExp(`^resuming ${run} at iteration ${at}/${ITERATIONS}$`, "m"),
    );
    await assertSameEnd(run, whole);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("signals: a second Ctrl-C stops at once, keeping the last checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const whole = `${dir}/whole`;
  assert.equal((await train(...ARGS, "--out", whole)).code, 0);
  const run = `${dir}/run`;
  // A first stop leaves a checkpoint; the second run is interrupted twice in a row.
  const first = await started([...ARGS, "--out", run]);
  first.child.kill("SIGINT");
  assert.equal((await first.ended()).status.code, 130);
  const kept = await checkpointIteration(run);
  const second = await started(["--resume", run]);
  second.child.kill("SIGINT");
  second.child.kill("SIGINT");
  const { status, stderr } = await second.ended();
  assert.equal(status.code, 130, stderr);
  assert(!/\n\s+at /.test(stderr), stderr);
  // Either the second signal came before the stop's checkpoint (the old one is kept) or after.
  assert((await checkpointIteration(run)) >= kept);
  const resumed = await train("--resume", run);
  assert.equal(resumed.code, 0, resumed.err);
  await assertSameEnd(run, whole);
  await Deno.remove(dir, { recursive: true });
});
