/**
 * The data benchmark: batches per second from the streaming worker, for
 * MNIST-shaped data (VAT's MNIST batches: 100 labelled + 250 unlabelled, no
 * augmentation) and CIFAR-shaped data (32 + 128, translation by 2 pixels and
 * horizontal flips), each beside the training step's rate. Run alone with
 * `deno run -A bench/data.ts`, or as part of `deno task bench`.
 * @module
 */
import { parseFlags } from "../src/cli/args.ts";
import { openStream } from "../src/data/stream.ts";
import type { ImageSet } from "../src/data/datasets.ts";
import { splitTrain } from "../src/data/split.ts";

function synthetic(n: number, c: number, h: number, w: number): ImageSet {
  const images = new Float32Array(new SharedArrayBuffer(n * c * h * w * 4));
  for (let i = 0; i < images.length; i += 997) images[i] = (i % 255) / 255; // content is irrelevant to speed
  return {
    images,
    labels: Float32Array.from({ length: n }, (_, i) => i % 10),
    shape: [n, c, h, w],
  };
}

async function rate(
  set: ImageSet,
  labelled: number,
  unlabelled: number,
  augment: { translate: number; flip: boolean } | undefined,
  batches: number,
): Promise<number> {
  const split = splitTrain(set.labels, { labels: 1000, dataSeed: 1 });
  const stream = openStream(set, split, {
    labelledBatch: labelled,
    unlabelledBatch: unlabelled,
    seed: 1,
    augment,
  });
  try {
    for (let i = 0; i < 5; i++) await stream.next(); // start-up: worker, library, first batches
    const t0 = performance.now();
    for (let i = 0; i < batches; i++) await stream.next();
    return batches / ((performance.now() - t0) / 1000);
  } finally {
    stream.close();
  }
}

/** Rows for the bench table: [benchmark, ours, reference, ratio, target]. */
export async function benchData(stepMs: number | undefined, quick: boolean): Promise<string[][]> {
  const rows: string[][] = [];
  const steps = stepMs ? 1000 / stepMs : undefined;
  const ref = steps ? `VAT MNIST step: ${steps.toFixed(1)} steps/s` : "-";
  const ratio = (r: number) => (steps ? (r / steps).toFixed(1) : "-");
  const mnist = synthetic(60000, 1, 28, 28);
  const m = await rate(mnist, 100, 250, undefined, quick ? 100 : 400);
  rows.push([
    "data: MNIST-shaped stream, 100+250",
    `${m.toFixed(0)} batches/s`,
    ref,
    ratio(m),
    ">= 3",
  ]);
  const cifar = synthetic(50000, 3, 32, 32);
  const c = await rate(cifar, 32, 128, { translate: 2, flip: true }, quick ? 100 : 400);
  rows.push([
    "data: CIFAR-shaped stream, 32+128, shift+flip",
    `${c.toFixed(0)} batches/s`,
    ref,
    ratio(c),
    ">= 3",
  ]);
  return rows;
}

if (import.meta.main) {
  const { values } = parseFlags(Deno.args, {
    quick: { kind: "bool", default: false, help: "fewer batches" },
    stepMs: { kind: "number", min: 0, max: 1e9, help: "a training step's milliseconds to compare" },
  });
  const stepMs = values.stepMs as number | undefined;
  for (const r of await benchData(stepMs, values.quick as boolean)) {
    console.log(r.join(" | "));
  }
}
