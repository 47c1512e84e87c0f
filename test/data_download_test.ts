/**
 * Downloads against a local HTTP server on 127.0.0.1 (never the network):
 * resumption with Range into a .part file, verification, atomic rename, a
 * checksum mismatch that leaves the cache untouched, and the offline message.
 */
import assert from "node:assert/strict";
import { ensureFiles } from "../src/data/cache.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { sha256 } from "../src/data/io.ts";
import { DownloadError, downloadFile, type SourceFile, SOURCES } from "../src/data/catalog.ts";
import { UserError } from "../src/util/errors.ts";
import { compress, mnistFiles, tempDir } from "./data_helpers.ts";

/** A server of named byte arrays that honours Range and can break a response after `cutAt` bytes. */
function serve(files: Map<string, Uint8Array>) {
  const seen: { path: string; range: string | null }[] = [];
  const state = { cutAt: -1 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const range = req.headers.get("range");
    seen.push({ path, range });
    const data = files.get(path);
    if (!data) return new Response("not found", { status: 404 });
    let start = 0;
    const m = range?.match(/^bytes=(\d+)-$/);
    if (m) start = Number(m[1]);
    if (start >= data.length && m) {
      return new Response(null, {
        status: 416,
        headers: { "content-range": `bytes */${data.length}` },
      });
    }
    const body = data.subarray(start);
    const cut = state.cutAt;
    state.cutAt = -1;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        if (cut >= 0) {
          c.enqueue(body.slice(0, cut));
          c.close(); // shorter than content-length: the client sees a broken transfer
        } else {
          c.enqueue(body.slice());
          c.close();
        }
      },
    });
    const headers: Record<string, string> = { "content-length": String(body.length) };
    if (m) headers["content-range"] = `bytes ${start}-${data.length - 1}/${data.length}`;
    return new Response(stream, { status: m ? 206 : 200, headers });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { server, url, seen, state };
}

const quiet = { log: () => {}, progress: false };

Deno.test("download: an interrupted transfer resumes with Range, is verified, and renamed into place", async () => {
  const [dir, done] = tempDir();
  const data = crypto.getRandomValues(new Uint8Array(60000));
  const gz = await compress(data, "gzip");
  const { server, url, seen, state } = serve(new Map([["/f.gz", gz]]));
  try {
    const file: SourceFile = {
      name: "f",
      download: "f.gz",
      urls: [`${url}/f.gz`],
      sha256: sha256(data),
      hashOf: "content",
    };
    const dest = `${dir}/f.gz`;
    state.cutAt = 20000;
    await assert.rejects(downloadFile(file.urls[0], dest, file, quiet), DownloadError);
    assert.equal(Deno.statSync(`${dest}.part`).size, 20000);
    assert.throws(() => Deno.statSync(dest), Deno.errors.NotFound);
    const lines: string[] = [];
    await downloadFile(file.urls[0], dest, file, { log: (l) => lines.push(l), progress: false });
    assert.equal(seen.at(-1)!.range, "bytes=20000-");
    assert.deepEqual(Deno.readFileSync(dest), gz);
    assert.throws(() => Deno.statSync(`${dest}.part`), Deno.errors.NotFound);
    assert(lines.some((l) => l.includes("resuming")), lines.join("\n"));
    assert(lines.at(-1)!.endsWith("done"), "plain progress lines off a terminal");
  } finally {
    await server.shutdown();
    done();
  }
});

Deno.test("download: a checksum mismatch removes the .part and leaves the cache untouched", async () => {
  const [dir, done] = tempDir();
  const good = new TextEncoder().encode("the good file");
  const { server, url } = serve(new Map([["/f", new TextEncoder().encode("something else")]]));
  try {
    const file: SourceFile = {
      name: "f",
      download: "f",
      urls: [`${url}/f`],
      sha256: sha256(good),
      hashOf: "file",
    };
    const dest = `${dir}/f`;
    Deno.writeFileSync(dest, good);
    await assert.rejects(downloadFile(file.urls[0], dest, file, quiet), (e: unknown) => {
      assert(e instanceof UserError);
      assert.match(e.message, /checksum mismatch/);
      assert(e.message.includes(dest));
      return true;
    });
    assert.deepEqual(Deno.readFileSync(dest), good);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"]);
  } finally {
    await server.shutdown();
    done();
  }
});

Deno.test("download: a whole data set from a mirror into data/<name>/, then loaded and verified", async () => {
  const [dir, done] = tempDir();
  const train = mnistFiles(20), test = mnistFiles(10);
  const raw = new Map([
    ["train-images-idx3-ubyte", train.images],
    ["train-labels-idx1-ubyte", train.labels],
    ["t10k-images-idx3-ubyte", test.images],
    ["t10k-labels-idx1-ubyte", test.labels],
  ]);
  const served = new Map<string, Uint8Array>();
  for (const [name, data] of raw) served.set(`/mnist/${name}.gz`, await compress(data, "gzip"));
  const { server, url } = serve(served);
  try {
    const source = {
      ...SOURCES.mnist,
      files: SOURCES.mnist.files.map((f) => ({
        ...f,
        urls: [`${url}/mnist/${f.name}.gz`],
        sha256: sha256(raw.get(f.name)!),
      })),
    };
    const paths = await ensureFiles("mnist", { dataDir: dir, source, ...quiet });
    assert.equal(paths.get("train-images-idx3-ubyte"), `${dir}/mnist/train-images-idx3-ubyte.gz`);
    const ds = await loadDataset("mnist", { dataDir: dir, source, ...quiet });
    assert.deepEqual(ds.train.shape, [20, 1, 28, 28]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/mnist`)].map((e) => e.name).sort(), [
      "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz",
      "train-images-idx3-ubyte.gz",
      "train-labels-idx1-ubyte.gz",
    ]);
  } finally {
    await server.shutdown();
    done();
  }
});

Deno.test("offline: the error names the missing files, where they are expected and where to get them", async () => {
  const [dir, done] = tempDir();
  try {
    const offline = (() =>
      Promise.reject(new TypeError("error sending request: dns error"))) as typeof fetch;
    for (const opts of [{ fetch: offline }, { download: false }]) {
      await assert.rejects(
        ensureFiles("mnist", { dataDir: dir, ...quiet, ...opts }),
        (e: unknown) => {
          assert(e instanceof UserError);
          for (
            const part of [
              "train-images-idx3-ubyte",
              `${dir}/mnist/`,
              "https://ossci-datasets.s3.amazonaws.com/mnist/",
            ]
          ) {
            assert(e.message.includes(part), `'${e.message}' lacks '${part}'`);
          }
          return true;
        },
      );
    }
    await assert.rejects(
      ensureFiles("cifar10", { dataDir: dir, download: false }),
      /cifar-10-binary\.tar\.gz/,
    );
    // nothing but the (empty) cache folder was created
    assert.deepEqual(
      [...Deno.readDirSync(`${dir}`)].map((e) => e.name).filter((n) => n !== "mnist"),
      [],
    );
  } finally {
    done();
  }
});

Deno.test("download: a server that accepts and never answers fails within the timeout", async () => {
  const [dir, done] = tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // read nothing, answer nothing
  })();
  try {
    const url = `http://127.0.0.1:${listener.addr.port}/f`;
    const file: SourceFile = { name: "f", urls: [url], hashOf: "file" };
    const t0 = performance.now();
    await assert.rejects(
      downloadFile(url, `${dir}/f`, file, { ...quiet, timeout: 0.5 }),
      (e: unknown) => {
        assert(e instanceof DownloadError);
        assert.match(e.message, /no answer within 0\.5 s/);
        return true;
      },
    );
    assert(performance.now() - t0 < 10000, "the timeout did not cut the wait short");
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
    done();
  }
});

Deno.test("download: a transfer that stalls midway fails within the timeout and keeps its .part", async () => {
  const [dir, done] = tempDir();
  const data = crypto.getRandomValues(new Uint8Array(50000));
  let stalled: ReadableStreamDefaultController<Uint8Array> | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(data.slice(0, 20000)); // then nothing more, and no end
        stalled = c;
      },
    });
    return new Response(body, { headers: { "content-length": String(data.length) } });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/f`;
    const file: SourceFile = { name: "f", urls: [url], sha256: sha256(data), hashOf: "file" };
    const dest = `${dir}/f`;
    await assert.rejects(
      downloadFile(url, dest, file, { ...quiet, timeout: 0.5 }),
      (e: unknown) => {
        assert(e instanceof DownloadError);
        assert.match(e.message, /stalled or broke after .*no data for 0\.5 s.*resume from/);
        return true;
      },
    );
    assert.equal(Deno.statSync(`${dest}.part`).size, 20000);
    assert.throws(() => Deno.statSync(dest), Deno.errors.NotFound);
  } finally {
    try {
      stalled?.close();
    } catch { /* already cancelled */ }
    await server.shutdown();
    done();
  }
});
