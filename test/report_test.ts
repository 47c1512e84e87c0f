import assert from "node:assert/strict";
import { encodePng } from "../src/report/png.ts";
import { Canvas } from "../src/report/canvas.ts";
import { resultsTable } from "../src/cli/reproduce.ts";
import type { Table } from "../src/registry/registry.ts";

/** Reads back what encodePng wrote: the chunks (checking each CRC) and the inflated rows. */
async function decodePng(png: Uint8Array) {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset);
  const chunks: Record<string, Uint8Array> = {};
  let at = 8;
  while (at < png.length) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    chunks[type] = png.subarray(at + 8, at + 8 + len);
    let c = 0xffffffff;
    for (const b of png.subarray(at + 4, at + 8 + len)) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    assert.equal(view.getUint32(at + 8 + len), (c ^ 0xffffffff) >>> 0, `CRC of ${type}`);
    at += 12 + len;
  }
  const ihdr = new DataView(chunks.IHDR.buffer, chunks.IHDR.byteOffset);
  const stream = new Blob([chunks.IDAT as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  return {
    width: ihdr.getUint32(0),
    height: ihdr.getUint32(4),
    depth: chunks.IHDR[8],
    colour: chunks.IHDR[9],
    raw,
    end: "IEND" in chunks,
  };
}

Deno.test("PNG: a valid RGB file whose rows inflate back to the pixels", async () => {
  const c = new Canvas(7, 3, [10, 20, 30]);
  c.setPixel(6, 2, [255, 0, 128]);
  const png = await decodePng(await encodePng(c.rgb, 7, 3));
  assert.deepEqual([png.width, png.height, png.depth, png.colour, png.end], [7, 3, 8, 2, true]);
  assert.equal(png.raw.length, 3 * (1 + 7 * 3));
  for (let y = 0; y < 3; y++) {
    assert.equal(png.raw[y * 22], 0, "filter type 0");
    assert.deepEqual(
      png.raw.subarray(y * 22 + 1, (y + 1) * 22),
      c.rgb.subarray(y * 21, (y + 1) * 21),
    );
  }
  assert.deepEqual([...png.raw.subarray(2 * 22 + 1 + 18, 2 * 22 + 1 + 21)], [255, 0, 128]);
  await assert.rejects(() => encodePng(new Uint8Array(5), 2, 2), /Cannot encode a PNG/);
});

Deno.test("canvas text draws the glyphs it knows", () => {
  const c = new Canvas(20, 9);
  c.text(1, 1, "1", [0, 0, 0]);
  // The glyph "1" has its stem in column 2 on every row.
  for (let y = 1; y < 8; y++) assert.equal(c.rgb[(y * 20 + 3) * 3], 0);
});

Deno.test("the reproduce table shows mean ± sample std beside the paper", () => {
  const table: Table = {
    title: "t",
    columns: [
      { label: "noise 0.01", dataset: "circles", args: [] },
      { label: "noise 0.06", dataset: "circles", args: [] },
    ],
    rows: [{ label: "m", args: [], paper: ["0.00 ± 0.00", "1.00 ± 2.00"] }],
    seeds: 2,
  };
  const t = resultsTable(table, new Map([["0|0", [1, 3]], ["0|1", [2, 2, 2]]]));
  assert.match(t, /^\| model \| noise 0\.01: ours \| paper \| noise 0\.06: ours \| paper \|/);
  assert.match(t, /\| m \| 2\.00 ± 1\.41 \| 0\.00 ± 0\.00 \| 2\.00 ± 0\.00 \| 1\.00 ± 2\.00 \|/);
});

Deno.test("report: chart ticks tell close values apart, and a log axis never drops a point", async () => {
  const { lineChart } = await import("../src/report/svg.ts");
  const labels = (svg: string) => [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
  // G's step norm sits at 2 within 1e-4: each tick needs its own label.
  const flat = lineChart({
    title: "g_l2",
    xLabel: "iteration",
    yLabel: "L2",
    series: [{ name: "a", points: [[0, 1.99995], [1, 2.00005]] }],
  });
  const ys = labels(flat);
  assert(ys.length >= 3, flat);
  assert.equal(new Set(ys).size, ys.length, `repeated tick labels: ${ys}`);
  // A zero test error has no logarithm: the chart goes linear and keeps all three points.
  const zero = lineChart({
    title: "test error",
    xLabel: "iteration",
    yLabel: "%",
    logY: true,
    series: [{ name: "<b>&", points: [[0, 5], [1, 0], [2, 0.5]] }],
  });
  assert.match(zero, /data-points="3"/);
  assert.doesNotMatch(zero, /log scale/);
  assert.match(zero, /&#60;b&#62;&#38;/);
  const logged = lineChart({
    title: "nll",
    xLabel: "iteration",
    yLabel: "nll",
    logY: true,
    series: [{ name: "a", points: [[0, 1], [1, 1e-3]] }],
  });
  assert.match(logged, /log scale/);
  assert.deepEqual(labels(logged), ["0.001", "0.01", "0.1", "1"]);
});

Deno.test("curve stats: the largest rise after step 3000 is measured from the best before it", async () => {
  const { curveStats, curveMarkdown } = await import("../src/report/curve.ts");
  // Best 3.0 at 3000; 3.4 at 5000 is 0.4 above it; 2.5 at 6000 lowers the best; 2.7 at 7000 is 0.2.
  const points: [number, number][] = [[1000, 5], [2000, 9], [3000, 3], [4000, 3.2], [5000, 3.4], [
    6000,
    2.5,
  ], [7000, 2.7]];
  const s = curveStats(points)!;
  assert.deepEqual(s.final, [7000, 2.7]);
  assert.deepEqual(s.best, [6000, 2.5]);
  assert.ok(Math.abs(s.rise - 0.4) < 1e-12);
  assert.equal(s.riseAt, 5000);
  // The rise at 2000 (9 - 5) comes before step 3000, so it does not count; a falling curve has none.
  assert.equal(curveStats(points.slice(0, 3))!.rise, 0);
  assert.equal(curveStats([[4000, 3], [5000, 2]])!.riseAt, 0);
  assert.equal(curveStats([]), null);

  const metrics = points.map(([iteration, test_error]) => ({
    iteration,
    test_error,
    g_flip: 0.02,
  }));
  const md = curveMarkdown([{ name: "a", metrics: [...metrics, { iteration: 7100, nll: 0.1 }] }]);
  assert.match(
    md,
    /^\| run \| final \(%\) @ step \| best \(%\) @ step \| largest rise after step 3000 \|/,
  );
  assert.match(md, /\| a \| 2\.70 @ 7000 \| 2\.50 @ 6000 \| 0\.40 @ 5000 \|/);
  assert.match(md, /\| step \| a \| g_flip \|/);
  assert.match(md, /\| 5000 \| 3\.40 \| 0\.020 \|/);
  assert.doesNotMatch(md, /7100/, "a logging line is not an evaluation");
  // Two runs: one column each, a blank where one has no evaluation, no diagnostics.
  const two = curveMarkdown([{ name: "a", metrics }, {
    name: "b",
    metrics: [{ iteration: 1000, test_error: 4 }],
  }]);
  assert.match(two, /\| step \| a \| b \|\n/);
  assert.match(two, /\| 2000 \| 9\.00 \| {2}\|/);
});
