/**
 * TensorBoard's event files (src/report/tfevents.ts): CRC-32C against its
 * published check values, and files read back by TensorBoard's own reader
 * (PyPI's tensorboard, its EventAccumulator), value for value, from the
 * encoder and from a real run, resumed included. The reader's tests are
 * skipped, saying so, where tensorboard is not installed.
 */
import assert from "node:assert/strict";
import { crc32c, eventFile, metricScalars } from "../src/report/tfevents.ts";
import { readMetrics } from "../src/cli/run.ts";
import { train } from "./commands.ts";

const reader = new URL("./read_tfevents.py", import.meta.url).pathname;
const hasTensorboard = (() => {
  try {
    return new Deno.Command("python3", { args: ["-c", "import tensorboard"], stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const skip = hasTensorboard ? "" : " (skipped: python3 cannot import tensorboard; pip install it)";

type Scalars = Record<string, [number, number, number][]>;

/** The number of records in an event file, walking its framing. */
function recordCount(path: string): number {
  const bytes = Deno.readFileSync(path);
  const view = new DataView(bytes.buffer);
  let n = 0;
  for (let at = 0; at < bytes.length; n++) at += 16 + Number(view.getBigUint64(at, true));
  return n;
}

/** What TensorBoard's EventAccumulator reads from the event files in `dir`. */
async function readBack(dir: string): Promise<Scalars> {
  const r = await new Deno.Command("python3", { args: [reader, dir] }).output();
  assert(r.success, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

/** The scalars that metrics records should give, as the reader reports them (float32 values). */
function expected(records: Record<string, unknown>[]): Scalars {
  const out: Scalars = {};
  for (const r of records) {
    for (const [tag, v] of Object.entries(metricScalars(r))) {
      (out[tag] ??= []).push([r.iteration as number, Math.fround(v), r.time as number]);
    }
  }
  return out;
}

/** The reader's scalars against the expected ones: steps, values and wall times. */
function assertSameScalars(got: Scalars, want: Scalars): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const [tag, rows] of Object.entries(want)) {
    assert.deepEqual(got[tag].map((r) => r[0]), rows.map((r) => r[0]), `${tag}: steps`);
    assert.deepEqual(got[tag].map((r) => r[1]), rows.map((r) => r[1]), `${tag}: values`);
    got[tag].forEach((r, i) => assert(Math.abs(r[2] - rows[i][2]) < 1e-6, `${tag}: wall time`));
  }
}

Deno.test("tfevents: CRC-32C gives the published check values", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.equal(crc32c(bytes("")), 0);
  assert.equal(crc32c(bytes("123456789")), 0xe3069283);
  // RFC 3720, B.4: 32 bytes of zeros, and of 0xff.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

Deno.test({
  name: `tfevents: TensorBoard's reader reads our scalars back, value for value${skip}`,
  ignore: !hasTensorboard,
  async fn() {
    const dir = await Deno.makeTempDir();
    const records = [
      { iteration: 100, nll: 0.25, adv: 1e-7, lr_classifier: 0.002, rate: 9.5, time: 1e9 },
      { iteration: 1000, test_error: 2.37, g_flip: 0.0234, g_kl: -0, time: 1e9 + 60.25 },
      { iteration: 5_000_000_000, nll: 123456.789, time: 1e9 + 120.5 }, // a step past 2^32
    ];
    await Deno.writeFile(`${dir}/events.out.tfevents.test`, eventFile(records, 0));
    assertSameScalars(await readBack(dir), expected(records));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    `tfevents: a run's event file holds its metrics, and a resumed run's holds no stale steps${skip}`,
  ignore: !hasTensorboard,
  async fn() {
    const dir = await Deno.makeTempDir();
    const run = `${dir}/run`;
    const common = ["--iterations", "60", "--log-interval", "10", "--eval-interval", "20"];
    // Stopped at 50 past its checkpoint at 40: the resumed run logs 50 and 60 again.
    const first = await train(
      ...common,
      "--checkpoint-interval",
      "40",
      "--no-figure",
      "--out",
      run,
      "--stop-after",
      "50",
    );
    assert.equal(first.code, 0, first.err);
    assertSameScalars(await readBack(run), expected(readMetrics(`${run}/metrics.jsonl`)));
    assert.equal((await train("--resume", run)).code, 0);
    const records = readMetrics(`${run}/metrics.jsonl`);
    assert.deepEqual(
      records.filter((r) => r.nll !== undefined).map((r) => r.iteration),
      [10, 20, 30, 40, 50, 60],
    );
    // One record per metrics line, after the version: none left from the first process's 50
    // (TensorBoard's reader would hide such a duplicate by purging, other readers would not).
    assert.equal(recordCount(`${run}/events.out.tfevents.advssl`), 1 + records.length);
    const got = await readBack(run);
    assertSameScalars(got, expected(records));
    for (const tag of ["train/lr_classifier", "train/lr_generator", "eval/g_flip"]) {
      assert(got[tag], `no ${tag}`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
