/**
 * SVHN and CIFAR-10 trained end to end through the command line, on small
 * generated files in the real formats (.mat, .bin): every method of the
 * paper's tables trains a few iterations on both sets, and an interrupted run
 * resumes bit for bit (data stream, augmentation, dropout and the generator's
 * streams included). A small Conv-Small keeps it quick; Conv-Large's layers
 * are the same code (test/convnet_test.ts).
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../src/nn/checkpoint.ts";
import { type CommandResult, runScript } from "./commands.ts";
import { writeSyntheticImageSets } from "./data_helpers.ts";

const dir = await Deno.makeTempDir();
await writeSyntheticImageSets(`${dir}/data`);

const SMALL = [
  ...["--data-dir", `${dir}/data`, "--iterations", "6"],
  ...["--model", "conv-small", "--widths", "8,16", "--batch-size", "4"],
  ...["--checkpoint-interval", "3", "--eval-interval", "3", "--log-interval", "3"],
  "--bn-stats-batches",
  "2",
];
const UNLABELLED = ["--ul-batch-size", "8"];
const GENERATOR = ["--g-width", "4", "--g-code", "8"];

const train = (...args: string[]): Promise<CommandResult> =>
  runScript("test/fixtures/synthetic_train.ts", ...args);

/** The extra flags a preset's method takes. */
const extra = (preset: string) =>
  preset.includes("supervised")
    ? []
    : preset.includes("advgen")
    ? [...UNLABELLED, ...GENERATOR]
    : UNLABELLED;

for (const set of ["svhn", "cifar10"]) {
  Deno.test(`images: ${set}: every table row's preset trains through the command line`, async () => {
    for (const row of ["supervised", "vat", "vat-entmin", "advgen", "supervised-all"]) {
      const preset = `${set}-${row}`;
      const out = `${dir}/${preset}`;
      const labels = row.endsWith("-all") ? [] : ["--labels", "20"];
      const r = await train(
        "--preset",
        preset,
        ...SMALL,
        ...labels,
        ...extra(preset),
        "--out",
        out,
      );
      assert.equal(r.code, 0, `${preset}: ${r.err}`);
      const summary = JSON.parse(Deno.readTextFileSync(`${out}/summary.json`));
      assert.equal(summary.preset, preset);
      assert(summary.test_error >= 0 && summary.test_error <= 100);
      const lines = Deno.readTextFileSync(`${out}/metrics.jsonl`).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      const losses = lines.filter((l) => l.nll !== undefined);
      assert.equal(losses.length, 2, `${preset}: metrics at iterations 3 and 6`);
      assert.equal(losses[0].entropy !== undefined, row === "vat-entmin", `${preset}: entropy`);
      for (const l of losses) for (const v of Object.values(l)) assert(Number.isFinite(v));
      const cfg = JSON.parse(Deno.readTextFileSync(`${out}/config.json`));
      assert.equal(cfg.labels, row.endsWith("-all") ? "all" : 20);
    }
    if (set === "cifar10") {
      // vat_tf's ZCA regularisation, the transform cached beside the data for the next runs.
      assert(Deno.statSync(`${dir}/data/cifar10/zca-reg0.000001.f32`).isFile);
    }
  });

  Deno.test(`images: ${set}: an interrupted run with augmentation, dropout and G resumes bit for bit`, async () => {
    for (const preset of [`${set}-vat-entmin`, `${set}-advgen`]) {
      const args = ["--preset", preset, ...SMALL, "--labels", "20", ...extra(preset), "--augment"];
      const whole = await train(...args, "--out", `${dir}/${preset}-whole`);
      assert.equal(whole.code, 0, whole.err);
      const stopped = await train(...args, "--out", `${dir}/${preset}-parts`, "--stop-after", "4");
      assert.equal(stopped.code, 0, stopped.err);
      const resumed = await train("--resume", `${dir}/${preset}-parts`);
      assert.equal(resumed.code, 0, resumed.err);
      const a = await readCheckpoint(`${dir}/${preset}-whole/checkpoint.bin`);
      const b = await readCheckpoint(`${dir}/${preset}-parts/checkpoint.bin`);
      assert.equal(
        Buffer.compare(a.data, b.data),
        0,
        `${preset}: the resumed run's tensors differ`,
      );
      assert.deepEqual(b.header.rngs, a.header.rngs);
      // Dropout's stream is saved with the model (it is not a method stream).
      assert(Object.keys(a.header.rngs).some((k) => k.startsWith("classifier/")), preset);
    }
  });

  Deno.test(`images: ${set}: eval and visualize run on a trained run's checkpoint`, async () => {
    const run = `${dir}/${set}-advgen-whole`;
    const ev = await train("eval", "--checkpoint", run);
    assert.equal(ev.code, 0, ev.err);
    const error = Number(ev.out.match(/test error (\d+\.\d+)%/)![1]);
    // The same number the run's last evaluation logged (the same weights and statistics).
    const summary = JSON.parse(Deno.readTextFileSync(`${run}/summary.json`));
    assert.equal(error.toFixed(2), summary.test_error.toFixed(2));
    assert.match(ev.out, /confusion matrix/);
    assert.equal(ev.out.split("\n").filter((l) => /^\d\s/.test(l)).length, 10, "10 class rows");
    const vis = await train("visualize", "--checkpoint", run, "--samples", "3", "--z", "2");
    assert.equal(vis.code, 0, vis.err);
    assert.match(vis.out, /G\(x, z\) for 2 z, VAT's x \+ r_vadv/);
    for (const f of ["confusion.png", "adversarial.png", "test_error.png"]) {
      const png = Deno.readFileSync(`${run}/${f}`);
      assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71], `${f} is a PNG`);
    }
  });
}

Deno.test("images: reproduce ssl runs end to end on a shortened schedule, then reads its runs back or resumes them", async () => {
  const out = `${dir}/reproduce`;
  const args = [
    ...["reproduce", "ssl", "--datasets", "svhn,cifar10", "--seeds", "1"],
    ...["--iterations-scale", "0.00005", "--out", out, "--"],
    ...["--data-dir", `${dir}/data`, "--model", "conv-small", "--widths", "8,16"],
    ...["--labels", "20", "--bn-stats-batches", "2"],
  ];
  const first = await train(...args);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /\| model \| SVHN: ours \| paper \| CIFAR-10: ours \| paper \|/);
  assert.match(first.out, /Shortened schedule: --iterations-scale 0\.00005 .*2\/48000, 10\/200000/);
  assert.match(first.out, /Projected time of the full schedules .*: \d/);
  // The table without its projected time (a resumed run's seconds grow a little).
  const tableOf = () => Deno.readTextFileSync(`${out}/table.md`).replace(/Projected.*\n/, "");
  const table = tableOf();
  const raw = Deno.readTextFileSync(`${out}/table.md`);
  // 4 rows x the 2 columns run (plain VAT's empty cell is MNIST's): 8 runs.
  assert.match(first.out, /8\/8 runs/);
  const stamp = (p: string) => Deno.statSync(p).mtime!.getTime();
  const cell = `${out}/3-1-1`; // ours on CIFAR-10, seed 1
  const before = stamp(`${cell}/checkpoint.bin`);
  // A finished table is read back: nothing retrains, the same table comes out.
  const again = await train(...args);
  assert.equal(again.code, 0, again.err);
  assert.equal(stamp(`${cell}/checkpoint.bin`), before);
  assert.equal(Deno.readTextFileSync(`${out}/table.md`), raw);
  // A run without its summary (interrupted at the end) is resumed, not started over.
  Deno.removeSync(`${cell}/summary.json`);
  const resumed = await train(...args);
  assert.equal(resumed.code, 0, resumed.err);
  assert.equal(tableOf(), table);
  assert(Deno.statSync(`${cell}/summary.json`).isFile);
  // Another schedule in the same folders: the finished runs are not lost without --overwrite.
  const longerArgs = args.map((a) => a === "0.00005" ? "0.0001" : a);
  const refused = await train(...longerArgs);
  assert.equal(refused.code, 2);
  assert.match(refused.err, /holds a finished run of another configuration/);
  assert.equal(stamp(`${cell}/checkpoint.bin`), before, "a refused table touched a run");
  const split = longerArgs.indexOf("--");
  const longer = await train(
    ...longerArgs.slice(0, split),
    "--overwrite",
    ...longerArgs.slice(split),
  );
  assert.equal(longer.code, 0, longer.err);
  assert.match(longer.out, /5\/48000, 20\/200000/);
});

Deno.test("images: wrong labels for a set are one line, exit 2", async () => {
  const r = await train(
    "--preset",
    "cifar10-supervised",
    ...SMALL,
    "--labels",
    "25",
    "--out",
    `${dir}/x`,
  );
  assert.equal(r.code, 2);
  assert.match(r.err, /--labels 25: expected a multiple of the 10 classes/);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
