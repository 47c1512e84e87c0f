/**
 * The readers on small files in the real formats: IDX (raw and gzip), CIFAR-10
 * binary batches, MAT level 5 (with and without compressed elements) and the
 * CIFAR archive; and every kind of bad input, each a UserError naming the file.
 */
import assert from "node:assert/strict";
import { loadDataset, type LoadOptions } from "../src/data/datasets.ts";
import { readMat } from "../src/data/mat.ts";
import { SOURCES } from "../src/data/catalog.ts";
import { CIFAR_RECORD } from "../src/data/cifar.ts";
import { sha256 } from "../src/data/io.ts";
import { UserError } from "../src/util/errors.ts";
import {
  cifarBatch,
  compress,
  concat,
  encodeIdx,
  encodeMat,
  encodeTar,
  mnistFiles,
  MX,
  pixel,
  svhnVars,
  tempDir,
} from "./data_helpers.ts";

const quiet: LoadOptions = { download: false, verify: false, log: () => {} };

function writeMnist(dir: string, n: number, gz: Uint8Array[] | null = null) {
  Deno.mkdirSync(`${dir}/mnist`, { recursive: true });
  const train = mnistFiles(n), test = mnistFiles(10);
  const files: [string, Uint8Array][] = [
    ["train-images-idx3-ubyte", train.images],
    ["train-labels-idx1-ubyte", train.labels],
    ["t10k-images-idx3-ubyte", test.images],
    ["t10k-labels-idx1-ubyte", test.labels],
  ];
  files.forEach(([name, data], i) => {
    if (gz) Deno.writeFileSync(`${dir}/mnist/${name}.gz`, gz[i]);
    else Deno.writeFileSync(`${dir}/mnist/${name}`, data);
  });
  return files;
}

async function rejectsUser(p: Promise<unknown>, ...parts: (string | RegExp)[]) {
  await assert.rejects(p, (e: unknown) => {
    assert(e instanceof UserError, `expected a UserError, got ${e}`);
    for (const part of parts) {
      if (typeof part === "string") {
        assert(e.message.includes(part), `'${e.message}' lacks '${part}'`);
      } else assert.match(e.message, part);
    }
    assert(!e.message.includes("\n"), "one line");
    return true;
  });
}

function near(a: number, b: number) {
  assert(Math.abs(a - b) < 1e-6, `${a} != ${b}`);
}

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else out.push(`${p} ${sha256(Deno.readFileSync(p))}`);
    }
  };
  walk(dir);
  return out.sort();
}

Deno.test("IDX: MNIST files, raw or gzip-compressed, load as NCHW floats in [0, 1] with labels", async () => {
  const [dir, done] = tempDir();
  try {
    const files = writeMnist(dir, 30);
    const raw = await loadDataset("mnist", { ...quiet, dataDir: dir });
    assert.deepEqual(raw.train.shape, [30, 1, 28, 28]);
    assert.deepEqual(raw.test.shape, [10, 1, 28, 28]);
    near(raw.train.images[(7 * 28 + 3) * 28 + 5], pixel(7, 0, 3, 5) / 255);
    assert.deepEqual([...raw.train.labels.slice(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    assert(raw.train.images.buffer instanceof SharedArrayBuffer);
    // the same files, gzip-compressed, at the top of the data folder
    const [dir2, done2] = tempDir();
    try {
      for (const [name, data] of files) {
        Deno.writeFileSync(`${dir2}/${name}.gz`, await compress(data, "gzip"));
      }
      const gz = await loadDataset("mnist", { ...quiet, dataDir: dir2 });
      assert.deepEqual(gz.train.images, raw.train.images);
      assert.deepEqual(gz.test.labels, raw.test.labels);
    } finally {
      done2();
    }
  } finally {
    done();
  }
});

Deno.test("CIFAR-10 binary batches load as R, G, B planes scaled to (x - 127.5) / 255", async () => {
  const [dir, done] = tempDir();
  try {
    Deno.mkdirSync(`${dir}/cifar10`);
    for (let i = 1; i <= 5; i++) {
      Deno.writeFileSync(`${dir}/cifar10/data_batch_${i}.bin`, cifarBatch(4, 4 * (i - 1)));
    }
    Deno.writeFileSync(`${dir}/cifar10/test_batch.bin`, cifarBatch(3, 100));
    const ds = await loadDataset("cifar10", { ...quiet, dataDir: dir, zca: false });
    assert.deepEqual(ds.train.shape, [20, 3, 32, 32]);
    assert.deepEqual(ds.test.shape, [3, 3, 32, 32]);
    const at = (i: number, c: number, y: number, x: number) =>
      ds.train.images[((i * 3 + c) * 32 + y) * 32 + x];
    near(at(13, 2, 5, 7), (pixel(13, 2, 5, 7) - 127.5) / 255);
    assert.deepEqual([...ds.train.labels.slice(0, 11)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
  } finally {
    done();
  }
});

Deno.test("MAT level 5: SVHN files with and without compressed elements, column-major, 10 means 0", async () => {
  for (const compressed of [false, true]) {
    for (const yStorage of ["double", "uint8"] as const) {
      const [dir, done] = tempDir();
      try {
        Deno.mkdirSync(`${dir}/svhn`);
        Deno.writeFileSync(
          `${dir}/svhn/train_32x32.mat`,
          await encodeMat(svhnVars(12, yStorage), compressed),
        );
        Deno.writeFileSync(
          `${dir}/svhn/test_32x32.mat`,
          await encodeMat(svhnVars(5, yStorage), compressed),
        );
        for (const scaling of ["unit", "centered"] as const) {
          const ds = await loadDataset("svhn", { ...quiet, dataDir: dir, svhnScaling: scaling });
          assert.deepEqual(ds.train.shape, [12, 3, 32, 32]);
          const shift = scaling === "centered" ? 127.5 : 0;
          const at = ((11 * 3 + 1) * 32 + 4) * 32 + 9; // image 11, channel 1, row 4, column 9
          near(ds.train.images[at], (pixel(11, 1, 4, 9) - shift) / 255);
          assert.deepEqual([...ds.train.labels.slice(0, 10)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
        }
      } finally {
        done();
      }
    }
  }
});

Deno.test("every file of every data set has a pinned SHA-256", () => {
  for (const src of Object.values(SOURCES)) {
    for (const f of src.files) {
      assert.match(f.sha256 ?? "", /^[0-9a-f]{64}$/, `${src.name}/${f.name}`);
    }
  }
});

Deno.test("the CIFAR-10 archive is checked, then extracted atomically with its members' checksums", async () => {
  const [dir, done] = tempDir();
  try {
    const members = [1, 2, 3, 4, 5].map((i) => ({
      name: `cifar-10-batches-bin/data_batch_${i}.bin`,
      data: cifarBatch(2, i),
    }));
    members.push({ name: "cifar-10-batches-bin/test_batch.bin", data: cifarBatch(2, 0) });
    members.push({ name: "cifar-10-batches-bin/readme.html", data: new Uint8Array(700) });
    const archive = await compress(encodeTar(members), "gzip");
    Deno.mkdirSync(`${dir}/cifar10`);
    Deno.writeFileSync(`${dir}/cifar10/cifar-10-binary.tar.gz`, archive);
    // The members' published checksums cannot match generated files: this checks the ones
    // recorded at extraction instead.
    const source = {
      ...SOURCES.cifar10,
      files: SOURCES.cifar10.files.map(({ sha256: _, ...f }) => f),
      archive: { ...SOURCES.cifar10.archive!, sha256: sha256(archive) },
    };
    const ds = await loadDataset("cifar10", {
      ...quiet,
      dataDir: dir,
      zca: false,
      source,
      verify: true,
    });
    assert.deepEqual(ds.train.shape, [10, 3, 32, 32]);
    const names = [...Deno.readDirSync(`${dir}/cifar10`)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "SHA256SUMS",
      "cifar-10-binary.tar.gz",
      "data_batch_1.bin",
      "data_batch_2.bin",
      "data_batch_3.bin",
      "data_batch_4.bin",
      "data_batch_5.bin",
      "test_batch.bin",
    ]);
    // A changed member no longer matches the checksum recorded at extraction.
    const p = `${dir}/cifar10/data_batch_3.bin`;
    const bytes = Deno.readFileSync(p);
    bytes[5] ^= 1;
    Deno.writeFileSync(p, bytes);
    await rejectsUser(
      loadDataset("cifar10", { ...quiet, dataDir: dir, zca: false, source, verify: true }),
      p,
      "checksum mismatch",
    );
    // A truncated archive: a UserError, and no member is left half-written.
    const [dir2, done2] = tempDir();
    try {
      Deno.mkdirSync(`${dir2}/cifar10`);
      const cut = await compress(encodeTar(members).subarray(0, 5000), "gzip");
      Deno.writeFileSync(`${dir2}/cifar10/cifar-10-binary.tar.gz`, cut);
      const src2 = { ...source, archive: { ...source.archive, sha256: sha256(cut) } };
      await rejectsUser(
        loadDataset("cifar10", { ...quiet, dataDir: dir2, zca: false, source: src2 }),
        "cifar-10-binary.tar.gz",
        "truncated",
      );
      assert.deepEqual([...Deno.readDirSync(`${dir2}/cifar10`)].map((e) => e.name), [
        "cifar-10-binary.tar.gz",
      ]);
    } finally {
      done2();
    }
  } finally {
    done();
  }
});

Deno.test("bad IDX and CIFAR files: one UserError naming the file, and the folder unchanged", async () => {
  const [dir, done] = tempDir();
  try {
    writeMnist(dir, 20);
    const img = `${dir}/mnist/train-images-idx3-ubyte`,
      lbl = `${dir}/mnist/train-labels-idx1-ubyte`;
    const good = Deno.readFileSync(img), goodLabels = Deno.readFileSync(lbl);
    const cases: [string, string, Uint8Array, (string | RegExp)[]][] = [
      ["truncated", img, good.subarray(0, good.length - 100), ["truncated"]],
      ["tiny", img, good.subarray(0, 3), ["truncated"]],
      ["wrong magic", img, concat([new Uint8Array([0, 0, 9, 3]), good.subarray(4)]), [
        "IDX data of type signed byte",
      ]],
      ["not IDX", img, new TextEncoder().encode("<html>not found</html>"), ["wrong magic number"]],
      ["too long", img, concat([good, new Uint8Array(10)]), ["10 too many"]],
      ["dims", img, encodeIdx([20, 28 * 28], good.subarray(16)), ["expected 3 dimensions"]],
      [
        "label range",
        lbl,
        encodeIdx([20], Uint8Array.from({ length: 20 }, (_, i) => (i === 13 ? 12 : 1))),
        ["label 13 is 12, outside 0..9"],
      ],
      ["label count", lbl, encodeIdx([19], goodLabels.subarray(8, 27)), [
        "19 labels for the 20 images",
      ]],
      ["bad gzip", img, (await compress(good, "gzip")).subarray(0, 200), ["corrupt or truncated"]],
    ];
    for (const [what, path, bytes, parts] of cases) {
      Deno.writeFileSync(path, bytes);
      const before = snapshot(dir);
      await rejectsUser(loadDataset("mnist", { ...quiet, dataDir: dir }), path, ...parts).catch(
        (e) => {
          throw new Error(`${what}: ${e.message}`);
        },
      );
      assert.deepEqual(snapshot(dir), before, `${what}: the folder changed`);
      Deno.writeFileSync(img, good);
      Deno.writeFileSync(lbl, goodLabels);
    }
    // checksum mismatch: the real SHA-256s do not match these small files
    await rejectsUser(
      loadDataset("mnist", { ...quiet, dataDir: dir, verify: true }),
      "checksum mismatch",
      "train-images-idx3-ubyte",
    );

    Deno.mkdirSync(`${dir}/cifar10`);
    for (let i = 1; i <= 5; i++) {
      Deno.writeFileSync(`${dir}/cifar10/data_batch_${i}.bin`, cifarBatch(2));
    }
    Deno.writeFileSync(`${dir}/cifar10/test_batch.bin`, cifarBatch(2));
    const b2 = `${dir}/cifar10/data_batch_2.bin`;
    const cifar = () => loadDataset("cifar10", { ...quiet, dataDir: dir, zca: false });
    Deno.writeFileSync(b2, cifarBatch(2).subarray(0, CIFAR_RECORD + 10));
    await rejectsUser(cifar(), b2, "not a whole number of 3073-byte records");
    const bad = cifarBatch(2);
    bad[CIFAR_RECORD] = 10;
    Deno.writeFileSync(b2, bad);
    await rejectsUser(cifar(), b2, "record 1 has label 10");
  } finally {
    done();
  }
});

Deno.test("bad MAT files: truncated, level 4, level 7.3, unsupported types, bad labels", async () => {
  const [dir, done] = tempDir();
  try {
    Deno.mkdirSync(`${dir}/svhn`);
    const train = `${dir}/svhn/train_32x32.mat`;
    Deno.writeFileSync(`${dir}/svhn/test_32x32.mat`, await encodeMat(svhnVars(3), false));
    const good = await encodeMat(svhnVars(4), false);
    const load = () => loadDataset("svhn", { ...quiet, dataDir: dir });
    const level4 = new Uint8Array(200); // a level 4 header: type, rows, cols, imag, name length
    new DataView(level4.buffer).setInt32(4, 2, true);
    const v73 = good.slice();
    v73.set(new TextEncoder().encode("MATLAB 7.3 MAT-file"));
    new DataView(v73.buffer).setUint16(124, 0x0200, true);
    const [x, y] = svhnVars(4);
    const cases: [string, Uint8Array, (string | RegExp)[]][] = [
      ["truncated", good.subarray(0, good.length - 1000), ["truncated"]],
      ["header only", good.subarray(0, 60), ["truncated"]],
      ["level 4", level4, ["not a MAT-file of level 5"]],
      ["level 7.3", v73, ["level 7.3 (HDF5) is not supported"]],
      ["cell X", await encodeMat([{ ...x, cls: MX.cell }, y], false), [
        "variable 'X' is a cell array, which is not supported",
      ]],
      ["double X", await encodeMat([{ ...x, cls: MX.double, storage: "double" }, y], true), [
        "expected X to be uint8",
        "unsupported type",
      ]],
      ["no y", await encodeMat([x], false), ["no variable 'y'"]],
      ["label 0", await encodeMat([x, { ...y, values: [1, 0, 3, 4] }], false), [
        "label 1 is 0, outside 1..10",
      ]],
      ["label 11", await encodeMat([x, { ...y, values: [1, 2, 11, 4] }], true), [
        "label 2 is 11, outside 1..10",
      ]],
      ["dims", await encodeMat([x, { ...y, dims: [3, 1], values: [1, 2, 3] }], false), [
        "expected y of size 4x1",
      ]],
      ["size", await encodeMat([{ ...x, dims: [32, 32, 3, 5] }, y], false), [
        "needs 15360 values, its data has 12288",
      ]],
    ];
    for (const [what, bytes, parts] of cases) {
      Deno.writeFileSync(train, bytes);
      await rejectsUser(load(), train, ...parts).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
    // a corrupt compressed element
    const z = await encodeMat(svhnVars(4), true);
    z[200] ^= 0xff;
    z[201] ^= 0xff;
    await rejectsUser(readMat(z, "z.mat"), "z.mat", "corrupt or truncated");
  } finally {
    done();
  }
});
