/**
 * Where each data set comes from and where it is kept: canonical URLs, file
 * names, SHA-256 checksums, the cache folder, and the download itself (HTTP
 * Range resumption into a `.part` file, a progress bar, verification, then an
 * atomic rename). A partial or corrupt download never replaces a good file,
 * and nothing already in the cache is deleted.
 *
 * Checksums (all SHA-256):
 * - MNIST: of the decompressed IDX files (mirrors' gzip wrappers differ);
 *   values as published for the original files and checked against
 *   `shared/data/mnist`.
 * - Fashion-MNIST: of the decompressed IDX files (the Debian package and the
 *   GitHub copy wrap them differently); published values, which Debian's
 *   dataset-fashion-mnist matches.
 * - CIFAR-10: of cifar-10-binary.tar.gz as served (170,052,171 bytes; the
 *   value TensorFlow Datasets pins). The extracted .bin files have no
 *   published checksum: extraction records theirs in SHA256SUMS beside them,
 *   and .bin files from elsewhere are checked for size and labels only.
 * - SVHN: of the .mat files as served (TensorFlow Datasets' values).
 * @module
 */
import { UserError } from "../util/errors.ts";
import { duration, formatBytes } from "../util/format.ts";
import { sha256File } from "./io.ts";

/** The data sets the tool knows. */
export const DATASETS = ["mnist", "fashion-mnist", "cifar10", "svhn"] as const;
/** One of {@linkcode DATASETS}. */
export type DatasetName = typeof DATASETS[number];

/** The environment variable that sets the data folder (below --data-dir). */
export const DATA_DIR_ENV = "ADVSSL_DATA_DIR";

/** A file the loader reads. */
export interface SourceFile {
  /** Canonical name, without `.gz` (the loader also accepts `name.gz`). */
  name: string;
  /** What a download stores in the cache (e.g. `name.gz`); absent for archive members. */
  download?: string;
  /** Where to download it from, tried in order. */
  urls: string[];
  /** Expected SHA-256 (hex); absent where none is published (archive members). */
  sha256?: string;
  /** "content": the hash is of the decompressed bytes; "file": of the file as stored. */
  hashOf: "content" | "file";
  /** Size in bytes of the download, when known. */
  bytes?: number;
  /** Not needed to load the data set by default (SVHN's extra set). */
  optional?: boolean;
}

/** An archive whose members are the data set's files (CIFAR-10). */
export interface SourceArchive extends SourceFile {
  /** Folder prefix of the members inside the archive. */
  prefix: string;
}

/** A data set's sources. */
export interface DatasetSource {
  name: DatasetName;
  title: string;
  homepage: string;
  files: SourceFile[];
  archive?: SourceArchive;
}

const MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/";
const FASHION_MIRROR = "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/";
const SVHN = "http://ufldl.stanford.edu/housenumbers/";

function idx(base: string, name: string, sha256: string): SourceFile {
  return { name, download: `${name}.gz`, urls: [`${base}${name}.gz`], sha256, hashOf: "content" };
}

/** Every data set's sources. */
export const SOURCES: Record<DatasetName, DatasetSource> = {
  mnist: {
    name: "mnist",
    title: "MNIST",
    homepage: "http://yann.lecun.com/exdb/mnist/",
    files: [
      idx(
        MNIST_MIRROR,
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
      ),
      idx(
        MNIST_MIRROR,
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      ),
      idx(
        MNIST_MIRROR,
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
      ),
      idx(
        MNIST_MIRROR,
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
      ),
    ],
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    title: "Fashion-MNIST",
    homepage: "https://github.com/zalandoresearch/fashion-mnist",
    files: [
      idx(
        FASHION_MIRROR,
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
      ),
      idx(
        FASHION_MIRROR,
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      ),
      idx(
        FASHION_MIRROR,
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
      ),
      idx(
        FASHION_MIRROR,
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
      ),
    ],
  },
  cifar10: {
    name: "cifar10",
    title: "CIFAR-10 (binary version)",
    homepage: "https://www.cs.toronto.edu/~kriz/cifar.html",
    archive: {
      name: "cifar-10-binary.tar.gz",
      download: "cifar-10-binary.tar.gz",
      urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
      sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
      hashOf: "file",
      bytes: 170052171,
      prefix: "cifar-10-batches-bin/",
    },
    // Each member's SHA-256 as torchvision-ruby (ankane/torchvision-ruby, cifar10.rb) pins it,
    // so every file is checked, not only the archive.
    files: [
      ["data_batch_1.bin", "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"],
      ["data_batch_2.bin", "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"],
      ["data_batch_3.bin", "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"],
      ["data_batch_4.bin", "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"],
      ["data_batch_5.bin", "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"],
      ["test_batch.bin", "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"],
    ].map(([name, sha256]) => ({
      name,
      urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
      sha256,
      hashOf: "file" as const,
      bytes: 30730000,
    })),
  },
  svhn: {
    name: "svhn",
    title: "SVHN (cropped digits)",
    homepage: "http://ufldl.stanford.edu/housenumbers/",
    // The host serves plain HTTP (as torchvision and TensorFlow Datasets use
    // it); the pinned SHA-256 is what makes the download trustworthy.
    files: [
      {
        name: "train_32x32.mat",
        download: "train_32x32.mat",
        urls: [`${SVHN}train_32x32.mat`],
        sha256: "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
        hashOf: "file",
        bytes: 182040794,
      },
      {
        name: "test_32x32.mat",
        download: "test_32x32.mat",
        urls: [`${SVHN}test_32x32.mat`],
        sha256: "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
        hashOf: "file",
        bytes: 64275384,
      },
      {
        name: "extra_32x32.mat",
        download: "extra_32x32.mat",
        urls: [`${SVHN}extra_32x32.mat`],
        sha256: "a133a4beb38a00fcdda90c9489e0c04f900b660ce8a316a5e854838379a71eb3",
        hashOf: "file",
        bytes: 1329278602,
        optional: true,
      },
    ],
  },
};

/** The named data set's sources; an unknown name is a UserError. */
export function source(name: string): DatasetSource {
  if (!(DATASETS as readonly string[]).includes(name)) {
    throw new UserError(`Cannot use data set '${name}': expected one of ${DATASETS.join(", ")}`);
  }
  return SOURCES[name as DatasetName];
}

/** The data root: `dataDir`, else $ADVSSL_DATA_DIR, else `data`. */
export function dataRoot(dataDir?: string): string {
  return dataDir ?? Deno.env.get(DATA_DIR_ENV) ?? "data";
}

/** The cache folder of one data set: `<root>/<name>`. */
export function cacheDir(name: DatasetName, dataDir?: string): string {
  return `${dataRoot(dataDir)}/${name}`;
}

/**
 * Where a file is found: in `<root>/<name>/` or `<root>/` itself (a folder
 * the user already has), under its canonical name, gzip-compressed or not,
 * and for CIFAR-10 also in a `cifar-10-batches-bin/` folder as the archive
 * unpacks. Returns undefined when it is nowhere.
 */
export function locate(name: DatasetName, file: SourceFile, dataDir?: string): string | undefined {
  const root = dataRoot(dataDir);
  const dirs = [`${root}/${name}`, root];
  if (name === "cifar10") {
    dirs.push(`${root}/${name}/cifar-10-batches-bin`, `${root}/cifar-10-batches-bin`);
  }
  for (const d of dirs) {
    for (const f of [file.name, `${file.name}.gz`]) {
      const p = `${d}/${f}`;
      try {
        if (Deno.statSync(p).isFile) return p;
      } catch { /* not here */ }
    }
  }
  return undefined;
}

/** Checks a file's SHA-256 against its source; a mismatch is a UserError naming the file. */
export async function verifyFile(
  path: string,
  file: SourceFile,
  sha256 = file.sha256,
): Promise<void> {
  if (!sha256) return;
  const got = await sha256File(path, file.hashOf === "content");
  if (got !== sha256) {
    throw new UserError(
      `Cannot use ${path}: checksum mismatch: SHA-256${
        file.hashOf === "content" ? " of its decompressed content" : ""
      } is ${got}, expected ${sha256} (a corrupt or different file; get ${file.name} from ${
        file.urls[0]
      })`,
    );
  }
}

// ---- downloading ----

/** How downloads report progress and reach the network (tests inject both). */
export interface DownloadOptions {
  /** Lines for the user (default: stderr). */
  log?: (line: string) => void;
  /** Draw a progress bar (default: when stderr is a terminal; plain lines otherwise). */
  progress?: boolean;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Seconds to wait for the server's answer, and then for each next piece of
   * the file, before giving up (default {@linkcode DOWNLOAD_TIMEOUT}).
   */
  timeout?: number;
}

/** Seconds a download waits for the server's answer or its next bytes. */
export const DOWNLOAD_TIMEOUT = 30;

/** The command-line option of the timeout, for `train` and `data` alike. */
export const DOWNLOAD_TIMEOUT_OPTION = {
  kind: "number",
  min: 1,
  max: 3600,
  metavar: "SECONDS",
  help: "give up a download when the server answers nothing, or sends nothing more, for this long",
} as const;

/** A network failure (no connection, HTTP error): the caller decides whether the user can fix it. */
export class DownloadError extends Error {
  override name = "DownloadError";
}

class Progress {
  #last = -1;
  #lastAt = 0;
  readonly #startAt = performance.now();
  #startBytes: number | null = null;
  constructor(
    readonly label: string,
    readonly total: number | undefined,
    readonly tty: boolean,
    readonly log: (line: string) => void,
  ) {}

  /** The rate of this transfer (a resumed one's bytes before it do not count) and the time left. */
  #rate(done: number, now: number): string {
    this.#startBytes ??= done;
    const seconds = (now - this.#startAt) / 1000;
    if (seconds < 0.5 || done <= this.#startBytes) return "";
    const rate = (done - this.#startBytes) / seconds;
    const left = this.total && done < this.total
      ? `, ${duration((this.total - done) / rate)} left`
      : "";
    return `, ${formatBytes(rate)}/s${left}`;
  }

  update(done: number, final = false): void {
    const now = performance.now();
    const rate = this.#rate(done, now);
    if (this.tty) {
      if (!final && now - this.#lastAt < 100) return;
      this.#lastAt = now;
      const frac = this.total ? Math.min(1, done / this.total) : 0;
      const bar = this.total ? "#".repeat(Math.round(frac * 30)).padEnd(30, ".") : "";
      const pct = this.total ? ` ${(frac * 100).toFixed(0).padStart(3)}%` : "";
      const text = `\r\x1b[2K${this.label} [${bar}]${pct} ${formatBytes(done)}${
        this.total ? ` / ${formatBytes(this.total)}` : ""
      }${rate}`;
      Deno.stderr.writeSync(new TextEncoder().encode(text + (final ? "\n" : "")));
      return;
    }
    const step = this.total ? Math.floor((done / this.total) * 10) : Math.floor(done / 50e6);
    if (step !== this.#last || final) {
      this.#last = step;
      this.log(
        `${this.label}: ${formatBytes(done)}${
          this.total
            ? ` of ${formatBytes(this.total)} (${Math.floor((done / this.total) * 100)}%)`
            : ""
        }${rate}${final ? ", done" : ""}`,
      );
    }
  }
}

/**
 * Downloads `url` to `dest`: into `dest.part` (resuming it with an HTTP Range
 * request when it exists), then checks the SHA-256 and renames it into place.
 * On a mismatch the `.part` file is removed and nothing else is touched.
 * Network failures throw DownloadError; a checksum mismatch a UserError.
 */
export async function downloadFile(
  url: string,
  dest: string,
  file: SourceFile,
  options: DownloadOptions = {},
): Promise<void> {
  const log = options.log ?? ((l: string) => console.error(l));
  const doFetch = options.fetch ?? fetch;
  const part = `${dest}.part`;
  let offset = 0;
  try {
    offset = Deno.statSync(part).size;
  } catch { /* fresh start */ }
  // A stalled server (one that accepts and never answers, or stops sending) aborts the transfer.
  const timeout = options.timeout ?? DOWNLOAD_TIMEOUT;
  const stall = new AbortController();
  let timer = setTimeout(() => stall.abort(), timeout * 1000);
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), timeout * 1000);
  };
  try {
    await transfer();
  } finally {
    clearTimeout(timer);
  }
  async function transfer(): Promise<void> {
    let res: Response;
    try {
      res = await doFetch(url, {
        headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
        signal: stall.signal,
      });
    } catch (e) {
      throw new DownloadError(
        `Cannot download ${url}: ${
          stall.signal.aborted ? `no answer within ${timeout} s` : (e as Error).message
        }`,
      );
    }
    rearm();
    let append = false;
    if (res.status === 206 && offset > 0) {
      const start = Number(res.headers.get("content-range")?.match(/bytes (\d+)-/)?.[1]);
      append = start === offset;
      if (!append) {
        await res.body?.cancel();
        throw new DownloadError(`Cannot resume ${url}: the server answered a different range`);
      }
      log(`${file.name}: resuming at ${formatBytes(offset)}`);
    } else if (res.status === 416 && offset > 0) {
      await res.body?.cancel(); // the part file is already complete
    } else if (res.status !== 200) {
      await res.body?.cancel();
      throw new DownloadError(`Cannot download ${url}: HTTP ${res.status} ${res.statusText}`);
    }
    if (res.status !== 416) {
      const length = Number(res.headers.get("content-length"));
      const total = Number.isFinite(length) && length > 0
        ? length + (append ? offset : 0)
        : file.bytes;
      await Deno.mkdir(dest.slice(0, Math.max(dest.lastIndexOf("/"), 1)), { recursive: true });
      const out = await Deno.open(part, { write: true, create: true, append, truncate: !append });
      const bar = new Progress(
        file.download ?? file.name,
        total,
        options.progress ?? Deno.stderr.isTerminal(),
        log,
      );
      let done = append ? offset : 0;
      try {
        for await (const chunk of res.body!) {
          let w = 0;
          while (w < chunk.length) w += await out.write(chunk.subarray(w));
          done += chunk.length;
          bar.update(done);
          rearm();
        }
      } catch (e) {
        const why = stall.signal.aborted ? `no data for ${timeout} s` : (e as Error).message;
        throw new DownloadError(
          `Cannot download ${url}: the transfer stalled or broke after ${
            formatBytes(done)
          } (${why}; run again to resume from ${part})`,
        );
      } finally {
        out.close();
      }
      bar.update(done, true);
      if (total !== undefined && done < total) {
        throw new DownloadError(
          `Cannot download ${url}: the transfer ended after ${formatBytes(done)} of ${
            formatBytes(total)
          } (run again to resume from ${part})`,
        );
      }
    }
  }
  try {
    await verifyFile(part, file);
  } catch (e) {
    await Deno.remove(part).catch(() => {});
    if (e instanceof UserError) {
      throw new UserError(
        `Cannot download ${file.download ?? file.name} from ${url}: checksum mismatch (${
          e.message.replace(/^.*checksum mismatch: /, "")
        }); the partial file was removed and ${dest} left as it was`,
      );
    }
    throw e;
  }
  await Deno.rename(part, dest);
}

/** The files of a data set that load needs (the optional ones when asked). */
export function neededFiles(src: DatasetSource, withOptional = false): SourceFile[] {
  return src.files.filter((f) => withOptional || !f.optional);
}

/** The message for files that are missing and could not be downloaded. */
export function missingMessage(
  src: DatasetSource,
  missing: SourceFile[],
  dataDir: string | undefined,
  why: string,
): string {
  const dir = cacheDir(src.name, dataDir);
  const where = src.archive
    ? `${src.archive.urls[0]} (unpack it there, or put the archive itself there)`
    : missing.map((f) => f.urls[0]).join(", ");
  return `Cannot get ${src.title}: ${why}; missing ${
    missing.map((f) => f.name).join(", ")
  } (expected in ${dir}/ or ${
    dataRoot(dataDir)
  }/, gzip-compressed or not; set --data-dir or ${DATA_DIR_ENV} to use files you have); get them from ${where}`;
}
