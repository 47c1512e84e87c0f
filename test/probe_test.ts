/**
 * The research probe (scripts/probe_perturbations.ts) on small trained runs
 * of generated SVHN files: its table has a row for each perturbation with
 * KLs and flip rates in range, a zero-norm step leaves C's output exactly as
 * it was (dropout must not count as a perturbation), and bad requests are
 * one-line errors.
 */
import assert from "node:assert/strict";
import { type CommandResult, oneLine, runScript } from "./commands.ts";
import { writeSyntheticImageSets } from "./data_helpers.ts";

const dir = await Deno.makeTempDir();
await writeSyntheticImageSets(`${dir}/data`);

const cli = (...args: string[]): Promise<CommandResult> =>
  runScript("test/fixtures/synthetic_train.ts", ...args);

const SMALL = [
  ...["--data-dir", `${dir}/data`, "--iterations", "6", "--labels", "20"],
  ...["--model", "conv-small", "--widths", "8,16", "--batch-size", "4", "--bn-stats-batches", "2"],
];

/** Trains the two runs once: advgen (with G) and supervised (the oracle). */
const runs = (async () => {
  for (
    const [name, extra] of [
      ["advgen", ["--ul-batch-size", "10", "--g-width", "4", "--g-code", "8"]],
      ["supervised", []],
    ] as const
  ) {
    const r = await cli("--preset", `svhn-${name}`, ...SMALL, ...extra, "--out", `${dir}/${name}`);
    assert.equal(r.code, 0, r.err);
  }
  return { advgen: `${dir}/advgen`, supervised: `${dir}/supervised` };
})();

/** The table's rows: perturbation name to its numeric cells. */
function table(out: string): Map<string, number[]> {
  const rows = new Map<string, number[]>();
  for (const line of out.split("\n")) {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length < 5 || cells[0] === "perturbation" || cells[0] === "---") continue;
    rows.set(cells[0], cells.slice(1).map(Number));
  }
  return rows;
}

Deno.test("probe: G, a fresh G, VAT's direction and a random one, each with C's KL, flips and the oracle's error", async () => {
  const { advgen, supervised } = await runs;
  const r = await cli("probe", "--checkpoint", advgen, "--oracle", supervised, "--attack", "3");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /20 test images in batches of 10, steps of L2 norm 2\.5/);
  const rows = table(r.out);
  assert.deepEqual(
    [...rows.keys()],
    ["G(x, z)", "fresh G (width 4, code 8, 3 steps)", "VAT r_vadv", "random"],
  );
  for (const [name, [klBatch, flipBatch, klRunning, flipRunning, oracle]] of rows) {
    for (const kl of [klBatch, klRunning]) assert(kl >= 0 && Number.isFinite(kl), `${name}: ${kl}`);
    // 20 images: every rate is a whole number of them.
    for (const pct of [flipBatch, flipRunning, oracle]) {
      assert(pct >= 0 && pct <= 100 && Math.abs(pct / 5 - Math.round(pct / 5)) < 1e-9, `${name}`);
    }
  }
  assert.match(r.err, /fresh G step 3\/3: G's KL on its batch \d/);
});

Deno.test("probe: a step of norm 0 moves nothing, with batch statistics too (dropout stays off)", async () => {
  const { advgen, supervised } = await runs;
  const withG = table((await cli("probe", "--checkpoint", advgen, "--radius", "0")).out);
  assert.deepEqual(withG.get("VAT r_vadv"), [0, 0, 0, 0]);
  // G keeps its own radius, and the random step takes G's norm.
  assert(withG.get("G(x, z)")![3] >= 0 && withG.get("random")!.some((v) => v > 0));
  const r = await cli("probe", "--checkpoint", supervised, "--radius", "0", "--batch", "10");
  assert.equal(r.code, 0, r.err);
  const plain = table(r.out);
  assert.deepEqual([...plain.keys()], ["VAT r_vadv", "random"]);
  for (const cells of plain.values()) assert.deepEqual(cells, [0, 0, 0, 0]);
});

Deno.test("probe: a request it cannot answer is one line and exit code 2", async () => {
  const { supervised } = await runs;
  const cases: [string[], RegExp][] = [
    [[], /Cannot probe .*supervised: give the steps' norm with --radius/],
    [["--radius", "1", "--images", "5"], /Cannot probe 5 test images: .* whole batches of 250/],
    [["--radius", "1", "--batch", "10", "--attack", "2"], /its method is not advgen/],
  ];
  for (const [args, message] of cases) {
    const r = await cli("probe", "--checkpoint", supervised, ...args);
    assert.equal(r.code, 2, `${args}: ${r.err}`);
    assert(oneLine(r), r.err);
    assert.match(r.err, message);
  }
  await Deno.remove(dir, { recursive: true });
});
