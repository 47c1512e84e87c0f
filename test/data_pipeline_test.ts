/**
 * Splits, ZCA whitening, augmentation and the batch stream (worker and disk).
 */
import assert from "node:assert/strict";
import { createCpuBackend } from "../src/backend/cpu.ts";
import { applyZca, computeZca, decodeZca, encodeZca } from "../src/data/preprocess.ts";
import { dataKernels } from "../src/data/native.ts";
import { splitTrain, subset } from "../src/data/split.ts";
import { type HostBatch, openDiskStream, openStream } from "../src/data/stream.ts";
import type { ImageSet } from "../src/data/datasets.ts";
import { diskRecords, readDiskLabels, readDiskRows } from "../src/data/disk.ts";
import { DataRng } from "../src/data/rng.ts";
import { UserError } from "../src/util/errors.ts";
import { cifarBatch, mnistFiles, tempDir } from "./data_helpers.ts";

function labelsOf(n: number, classes = 10, skew = false): Float32Array {
  // skewed: class c has about (c + 1) times as many samples as class 0
  const rng = new DataRng(5);
  return Float32Array.from(
    { length: n },
    (_, i) => skew ? Math.floor(Math.sqrt(rng.below(100))) : i % classes,
  );
}

Deno.test("split: balanced labelled subset from --data-seed alone; unlabelled = all but validation", () => {
  const labels = labelsOf(5000, 10, true);
  const a = splitTrain(labels, { labels: 100, dataSeed: 1 });
  const b = splitTrain(labels, { labels: 100, dataSeed: 1 });
  const c = splitTrain(labels, { labels: 100, dataSeed: 2 });
  assert.deepEqual(a, b, "reproducible");
  assert.notDeepEqual(a.labelled, c.labelled, "the seed matters");
  const counts = new Array(10).fill(0);
  for (const i of a.labelled) counts[labels[i]]++;
  assert.deepEqual(counts, new Array(10).fill(10));
  assert.equal(new Set(a.labelled).size, 100);
  assert.equal(a.unlabelled.length, 5000, "the unlabelled set is the whole training set");
  const v = splitTrain(labels, { labels: 100, dataSeed: 1, validation: 500 });
  assert.equal(v.validation.length, 500);
  assert.equal(v.unlabelled.length, 4500);
  const held = new Set(v.validation);
  assert(
    ![...v.labelled, ...v.unlabelled].some((i) => held.has(i)),
    "validation is held out of both",
  );
  for (
    const bad of [{ labels: 95 }, { labels: 0 }, { labels: 100, validation: 4950 }, {
      labels: 4000,
    }]
  ) {
    assert.throws(() => splitTrain(labels, { dataSeed: 1, ...bad }), UserError);
  }
  const s = subset({
    images: Float32Array.from({ length: 5000 * 4 }, (_, i) => i),
    labels,
    shape: [5000, 1, 2, 2],
  }, Int32Array.from([3, 7]));
  assert.deepEqual([...s.images], [12, 13, 14, 15, 28, 29, 30, 31]);
});

Deno.test("ZCA: the whitened training data has identity covariance (regularisation 0), as the formula says otherwise", async () => {
  const be = await createCpuBackend("f64");
  const n = 3000, d = 6;
  const rng = new DataRng(3);
  const u = () => (rng.nextU32() / 2 ** 32) - 0.5;
  // correlated data: x = A z + offset
  const A = Array.from({ length: d * d }, () => u());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: d }, u);
    for (let r = 0; r < d; r++) {
      let s = 3 + r;
      for (let k = 0; k < d; k++) s += A[r * d + k] * z[k] * (k + 1);
      x[i * d + r] = s;
    }
  }
  const cov = (y: Float32Array) => {
    const m = new Float64Array(d), c = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let r = 0; r < d; r++) m[r] += y[i * d + r] / n;
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < d; r++) {
        for (let k = 0; k < d; k++) {
          c[r * d + k] += (y[i * d + r] - m[r]) * (y[i * d + k] - m[k]) / n;
        }
      }
    }
    return { m, c };
  };
  const zca = computeZca(be, x, n, d, 0);
  const w = x.slice();
  applyZca(be, zca, w, n);
  const { m, c } = cov(w);
  for (let r = 0; r < d; r++) {
    assert(Math.abs(m[r]) < 1e-4, `mean ${m[r]}`);
    for (let k = 0; k < d; k++) {
      assert(Math.abs(c[r * d + k] - (r === k ? 1 : 0)) < 1e-3, `cov[${r},${k}] = ${c[r * d + k]}`);
    }
  }
  // components are symmetric, and with regularisation the eigenvalues of the
  // whitened covariance are (1 + reg sqrt(s))^2 for the data's eigenvalues s
  for (let r = 0; r < d; r++) {
    for (let k = 0; k < d; k++) {
      assert(Math.abs(zca.components[r * d + k] - zca.components[k * d + r]) < 1e-5);
    }
  }
  const reg = 0.1;
  const zr = computeZca(be, x, n, d, reg);
  const wr = x.slice();
  applyZca(be, zr, wr, n);
  const cx = cov(x).c, cw = cov(wr).c;
  const eig = (c: Float64Array) => {
    const a = be.alloc(d * d), ev = be.alloc(d);
    be.write(a, c);
    be.symEig(a, ev, d);
    const out = [...be.read(ev)];
    be.free(a);
    be.free(ev);
    return out;
  };
  const predicted = eig(cx).map((s) => (1 + reg * Math.sqrt(s)) ** 2);
  eig(cw).forEach((v, i) =>
    assert(Math.abs(v - predicted[i]) < 1e-3 * predicted[i], `${v} vs ${predicted[i]}`)
  );
  // the cache format round-trips, and a stale key or regularisation is ignored
  const enc = encodeZca(zr, "key");
  assert.deepEqual(decodeZca(enc, "key", reg)!.components, zr.components);
  assert.equal(decodeZca(enc, "other", reg), undefined);
  assert.equal(decodeZca(enc, "key", 0.2), undefined);
});

Deno.test("augmentation kernel: zero-padded shifts within the image, and horizontal flips", async () => {
  const k = await dataKernels();
  const [c, h, w] = [2, 5, 6];
  const d = c * h * w;
  const src = Float32Array.from({ length: 3 * d }, (_, i) => i + 1);
  const at = (img: number, ch: number, y: number, x: number) => src[img * d + (ch * h + y) * w + x];
  const index = Int32Array.from([2, 0]);
  const sx = Int32Array.from([2, -1]), sy = Int32Array.from([-2, 1]), fl = Int32Array.from([0, 1]);
  const out = new Float32Array(2 * d);
  k.gatherAugment(out, src, index, [c, h, w], sx, sy, fl);
  for (let b = 0; b < 2; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const xs = (fl[b] ? w - 1 - x : x) + sx[b], ys = y + sy[b];
          const want = xs >= 0 && xs < w && ys >= 0 && ys < h ? at(index[b], ch, ys, xs) : 0;
          assert.equal(out[b * d + (ch * h + y) * w + x], want, `b${b} c${ch} y${y} x${x}`);
        }
      }
    }
  }
  assert.throws(
    () => k.gatherAugment(out, src, Int32Array.from([3, 0]), [c, h, w], null, null, null),
    /outside/,
  );
});

function memorySet(n: number, d = 12): ImageSet {
  return {
    images: Float32Array.from({ length: n * d }, (_, i) => Math.floor(i / d) + (i % d) / 100),
    labels: Float32Array.from({ length: n }, (_, i) => i % 10),
    shape: [n, 3, 2, 2],
  };
}

async function take(stream: { next(): Promise<HostBatch> }, k: number): Promise<HostBatch[]> {
  const out = [];
  for (let i = 0; i < k; i++) out.push(await stream.next());
  return out;
}

function epochs(index: Int32Array[], n: number, set: Int32Array) {
  const all = index.flatMap((a) => [...a]);
  for (let e = 0; e + n <= all.length; e += n) {
    assert.deepEqual(
      all.slice(e, e + n).sort((a, b) => a - b),
      [...set],
      `epoch ${e / n}: every sample once`,
    );
  }
}

Deno.test("stream: every sample once per epoch, reproducible, the same in a worker and in-thread", async () => {
  const train = memorySet(70);
  const split = splitTrain(train.labels, { labels: 20, dataSeed: 1, validation: 5 });
  const opts = { labelledBatch: 6, unlabelledBatch: 13, seed: 7 };
  const worker = openStream(train, split, opts);
  const again = openStream(train, split, { ...opts, prefetch: 1 });
  const local = openStream(train, split, { ...opts, worker: false });
  try {
    const [a, b, l] = [await take(worker, 25), await take(again, 25), await take(local, 25)];
    for (let i = 0; i < 25; i++) {
      assert.deepEqual(a[i].unlabelled!.index, b[i].unlabelled!.index);
      assert.deepEqual(a[i].labelled.images, l[i].labelled.images);
      assert.deepEqual(a[i].unlabelled!.images, l[i].unlabelled!.images);
    }
    epochs(a.map((x) => x.labelled.index), 20, split.labelled);
    epochs(a.map((x) => x.unlabelled!.index), 65, split.unlabelled);
    assert.equal(a[24].unlabelled!.epoch, Math.floor((25 * 13 - 1) / 65));
    // without augmentation a sample is its row; labels follow their images
    const d = 12;
    for (const bt of a.slice(0, 3)) {
      bt.labelled.index.forEach((g, k) => {
        assert.deepEqual(
          bt.labelled.images.subarray(k * d, (k + 1) * d),
          train.images.subarray(g * d, (g + 1) * d),
        );
        assert.equal(bt.labelled.labels[k], train.labels[g]);
      });
    }
    const other = openStream(train, split, { ...opts, seed: 8 });
    const o = await take(other, 1);
    other.close();
    assert.notDeepEqual(
      o[0].unlabelled!.index,
      a[0].unlabelled!.index,
      "the training seed sets the order",
    );
  } finally {
    worker.close();
    again.close();
    local.close();
  }
});

Deno.test("stream: skip(n) then next() gives batch n of a fresh stream, augmented, in a worker and in-thread", async () => {
  const train = memorySet(70);
  const split = splitTrain(train.labels, { labels: 20, dataSeed: 1 });
  const opts = {
    labelledBatch: 6,
    unlabelledBatch: 13,
    seed: 7,
    augment: { translate: 1, flip: true },
  };
  const fresh = openStream(train, split, opts);
  const all = await take(fresh, 30);
  fresh.close();
  // Fewer than the batches prefetched, more than them, and after batches were taken.
  for (const [worker, prefetch] of [[true, 4], [true, 1], [false, 1]] as const) {
    for (const [before, n] of [[0, 2], [0, 17], [3, 9]]) {
      const s = openStream(train, split, { ...opts, worker, prefetch });
      try {
        await take(s, before);
        await s.skip(n);
        const [a, b] = await take(s, 2);
        const want = all.slice(before + n, before + n + 2);
        const where = `worker ${worker}, prefetch ${prefetch}, ${before} then skip ${n}`;
        assert.deepEqual(a.unlabelled!.images, want[0].unlabelled!.images, where);
        assert.deepEqual(a.labelled.images, want[0].labelled.images, where);
        assert.deepEqual(b.unlabelled!.index, want[1].unlabelled!.index, where);
      } finally {
        s.close();
      }
    }
  }
});

Deno.test("stream: seeded augmentation shifts within +-2 pixels and flips", async () => {
  const n = 40, [c, h, w] = [1, 8, 8], d = c * h * w;
  const train: ImageSet = {
    images: Float32Array.from({ length: n * d }, (_, i) => 1 + (i % d)), // pixel value = position + 1
    labels: Float32Array.from({ length: n }, (_, i) => i % 10),
    shape: [n, c, h, w],
  };
  const split = {
    labelled: Int32Array.from({ length: 10 }, (_, i) => i),
    unlabelled: Int32Array.from({ length: n }, (_, i) => i),
  };
  const s = openStream(train, split, {
    labelledBatch: 10,
    unlabelledBatch: 40,
    seed: 3,
    augment: { translate: 2, flip: true },
  });
  const s2 = openStream(train, split, {
    labelledBatch: 10,
    unlabelledBatch: 40,
    seed: 3,
    augment: { translate: 2, flip: true },
  });
  try {
    const [b] = await take(s, 1);
    const [b2] = await take(s2, 1);
    assert.deepEqual(b.unlabelled!.images, b2.unlabelled!.images, "seeded");
    const shifts = new Set<string>();
    let flips = 0;
    for (let k = 0; k < n; k++) {
      const img = b.unlabelled!.images.subarray(k * d, (k + 1) * d);
      // recover the transform from the centre pixel (always inside for |shift| <= 2)
      const v = img[4 * w + 4] - 1;
      const ys = Math.floor(v / w), xs = v % w;
      const dy = ys - 4;
      const right = img[4 * w + 5] - 1; // neighbour to the right: +1 unflipped, -1 flipped
      const flipped = right === v - 1;
      const dx = flipped ? xs - (w - 1 - 4) : xs - 4;
      assert(Math.abs(dx) <= 2 && Math.abs(dy) <= 2, `shift ${dx},${dy}`);
      shifts.add(`${dx},${dy}`);
      if (flipped) flips++;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = (flipped ? w - 1 - x : x) + dx, sy = y + dy;
          const want = sx >= 0 && sx < w && sy >= 0 && sy < h ? sy * w + sx + 1 : 0;
          assert.equal(img[y * w + x], want);
        }
      }
    }
    assert(shifts.size >= 10, `shifts vary: ${[...shifts]}`);
    assert(flips > 5 && flips < 35, `about half flipped: ${flips}`);
  } finally {
    s.close();
    s2.close();
  }
  assert.throws(
    () => openStream(train, split, { labelledBatch: 0, unlabelledBatch: 4, seed: 1 }),
    UserError,
  );
});

Deno.test("disk stream: chunks from raw IDX and CIFAR files, every sample once per epoch, bounded window", async () => {
  const [dir, done] = tempDir();
  try {
    Deno.mkdirSync(`${dir}/mnist`);
    const train = mnistFiles(103), test = mnistFiles(5);
    Deno.writeFileSync(`${dir}/mnist/train-images-idx3-ubyte`, train.images);
    Deno.writeFileSync(`${dir}/mnist/train-labels-idx1-ubyte`, train.labels);
    Deno.writeFileSync(`${dir}/mnist/t10k-images-idx3-ubyte`, test.images);
    Deno.writeFileSync(`${dir}/mnist/t10k-labels-idx1-ubyte`, test.labels);
    const records = await diskRecords("mnist", { dataDir: dir, download: false });
    const k = await dataKernels();
    const labels = readDiskLabels(records, k);
    const split = splitTrain(labels, { labels: 10, dataSeed: 1, validation: 3 });
    const labelled = readDiskRows(records, k, split.labelled);
    const s = openDiskStream(records, labelled, {
      labelledBatch: 4,
      unlabelledBatch: 25,
      seed: 2,
      exclude: split.validation,
      chunkRecords: 16,
      windowChunks: 2,
    });
    try {
      const batches = await take(s, 12);
      epochs(batches.map((b) => b.unlabelled!.index), 100, split.unlabelled);
      const d = 28 * 28;
      const b = batches[5];
      b.unlabelled!.index.forEach((g, j) => {
        const want = train.images.subarray(16 + g * d, 16 + (g + 1) * d);
        const got = b.unlabelled!.images.subarray(j * d, (j + 1) * d);
        assert(got.every((v, i) => Math.abs(v - want[i] / 255) < 1e-6), `record ${g}`);
      });
      // the labelled part indexes the labelled subset
      assert.deepEqual([...batches[0].labelled.labels].every((l) => l >= 0 && l < 10), true);
    } finally {
      s.close();
    }
    Deno.mkdirSync(`${dir}/cifar10`);
    for (let i = 1; i <= 5; i++) {
      Deno.writeFileSync(`${dir}/cifar10/data_batch_${i}.bin`, cifarBatch(7, 7 * (i - 1)));
    }
    Deno.writeFileSync(`${dir}/cifar10/test_batch.bin`, cifarBatch(2));
    const cr = await diskRecords("cifar10", { dataDir: dir, download: false });
    assert.equal(cr.count, 35);
    const cl = readDiskLabels(cr, k);
    assert.deepEqual([...cl.slice(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    const cs = openDiskStream(cr, readDiskRows(cr, k, Int32Array.from([0, 1])), {
      labelledBatch: 2,
      unlabelledBatch: 10,
      seed: 1,
      chunkRecords: 4,
      windowChunks: 3,
      augment: { translate: 2, flip: true },
    });
    try {
      epochs(
        (await take(cs, 7)).map((b) => b.unlabelled!.index),
        35,
        Int32Array.from({ length: 35 }, (_, i) => i),
      );
    } finally {
      cs.close();
    }
  } finally {
    done();
  }
});
