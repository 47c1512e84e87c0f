/**
 * The real files when this machine has them (skipped otherwise): the full
 * MNIST in shared/data/mnist and Debian's dataset-fashion-mnist. Checks the
 * checksums, counts and label histograms; and the `deno task data` command's
 * exit codes.
 */
import assert from "node:assert/strict";
import { loadDataset } from "../src/data/datasets.ts";
import { splitTrain } from "../src/data/split.ts";
import { exists } from "../src/util/fs.ts";
import { cifarBatch, tempDir } from "./data_helpers.ts";
import { runCli } from "./commands.ts";

const SHARED = new URL("../../shared/data", import.meta.url).pathname;
const FASHION = "/usr/share/datasets";

Deno.test({
  name:
    "real MNIST (shared/data/mnist): verified, 60000 + 10000 images, the published label counts",
  ignore: !exists(`${SHARED}/mnist/train-images-idx3-ubyte.gz`),
  async fn() {
    const ds = await loadDataset("mnist", { dataDir: SHARED, download: false });
    assert.deepEqual(ds.train.shape, [60000, 1, 28, 28]);
    assert.deepEqual(ds.test.shape, [10000, 1, 28, 28]);
    const hist = (l: Float32Array) => {
      const h = new Array(10).fill(0);
      for (const v of l) h[v]++;
      return h;
    };
    assert.deepEqual(hist(ds.train.labels), [
      5923,
      6742,
      5958,
      6131,
      5842,
      5421,
      5918,
      6265,
      5851,
      5949,
    ]);
    assert.deepEqual(hist(ds.test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    const split = splitTrain(ds.train.labels, { labels: 100, dataSeed: 1 });
    assert.deepEqual(
      hist(Float32Array.from(split.labelled, (i) => ds.train.labels[i])),
      new Array(10).fill(10),
    );
  },
});

Deno.test({
  name: "real Fashion-MNIST (Debian's dataset-fashion-mnist): verified, 6000 per class",
  ignore: !exists(`${FASHION}/fashion-mnist/train-images-idx3-ubyte.gz`),
  async fn() {
    const ds = await loadDataset("fashion-mnist", { dataDir: FASHION, download: false });
    assert.deepEqual(ds.train.shape, [60000, 1, 28, 28]);
    const h = new Array(10).fill(0);
    for (const v of ds.train.labels) h[v]++;
    assert.deepEqual(h, new Array(10).fill(6000));
  },
});

const data = (...args: string[]) => runCli("data.ts", ...args);

Deno.test("deno task data: a mistake or a bad file is one line and exit code 2; info loads a set", async () => {
  const [dir, done] = tempDir();
  try {
    for (
      const args of [["nope"], ["download", "nope"], ["verify"], ["info", "mnist", "--bad-flag"]]
    ) {
      const r = await data(...args);
      assert.equal(r.code, 2, `${args}: ${r.err}`);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, /^error: Cannot /);
    }
    Deno.mkdirSync(`${dir}/cifar10`);
    for (let i = 1; i <= 5; i++) {
      Deno.writeFileSync(`${dir}/cifar10/data_batch_${i}.bin`, cifarBatch(3, i));
    }
    // Every CIFAR-10 file has a published checksum: a generated one is refused before it is read.
    Deno.writeFileSync(`${dir}/cifar10/test_batch.bin`, cifarBatch(3));
    const bad = await data("info", "cifar10", "--data-dir", dir, "--no-zca");
    assert.equal(bad.code, 2);
    assert.equal(bad.err.trim().split("\n").length, 1, bad.err);
    assert.match(bad.err, /^error: Cannot load .*data_batch_1\.bin: checksum mismatch/);
    const verify = await data("verify", "cifar10", "--data-dir", dir);
    assert.equal(verify.code, 2);
    assert.match(verify.out, /BAD .*data_batch_1\.bin/);
    const offline = await data("download", "mnist", "--data-dir", `${dir}/none`);
    if (offline.code !== 0) {
      assert.equal(offline.code, 2);
      assert.match(offline.err, /^error: Cannot get MNIST: .*train-images-idx3-ubyte/);
      assert(!exists(`${dir}/none`), "nothing created offline");
    }
  } finally {
    done();
  }
});
