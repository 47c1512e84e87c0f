/**
 * The data cache: finds each file of a data set, downloads what is missing
 * (and, for CIFAR-10, extracts the archive), and verifies files on request.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { exists, writeAtomic } from "../util/fs.ts";
import { sha256File } from "./io.ts";
import { extractTar } from "./tar.ts";
import {
  cacheDir,
  type DatasetName,
  type DatasetSource,
  DownloadError,
  downloadFile,
  type DownloadOptions,
  locate,
  missingMessage,
  neededFiles,
  source,
  type SourceFile,
  verifyFile,
} from "./catalog.ts";

/** Options of {@linkcode ensureFiles}. */
export interface EnsureOptions extends DownloadOptions {
  /** The data root (--data-dir); default $ADVSSL_DATA_DIR, else `data`. */
  dataDir?: string;
  /** Download what is missing (default true); false: a missing file is a UserError. */
  download?: boolean;
  /** Include optional files (SVHN's extra set). */
  optional?: boolean;
  /** Sources to use instead of the built-in ones (another mirror; tests). */
  source?: DatasetSource;
}

/** The name of the checksum list written beside files extracted from an archive. */
export const SUMS_FILE = "SHA256SUMS";

function readSums(dir: string): Map<string, string> {
  const sums = new Map<string, string>();
  try {
    for (const line of Deno.readTextFileSync(`${dir}/${SUMS_FILE}`).split("\n")) {
      const m = line.match(/^([0-9a-f]{64})\s+\*?(.+)$/);
      if (m) sums.set(m[2], m[1]);
    }
  } catch { /* none */ }
  return sums;
}

/** The expected SHA-256 of a file found at `path`: the source's, or the one recorded at extraction. */
export function expectedSha256(file: SourceFile, path: string): string | undefined {
  if (file.sha256) return file.sha256;
  const dir = path.slice(0, path.lastIndexOf("/"));
  return readSums(dir).get(file.name);
}

/** Extracts the members `names` (and no others: files already there stay as they are). */
async function extractArchive(
  src: DatasetSource,
  archive: string,
  dir: string,
  names: string[],
): Promise<void> {
  const a = src.archive!;
  const wanted = new Map(names.map((n) => [`${a.prefix}${n}`, `${dir}/${n}`]));
  const file = await Deno.open(archive);
  const got = await extractTar(
    file.readable.pipeThrough(new DecompressionStream("gzip")),
    (name) => wanted.get(name),
    archive,
  );
  const missing = [...wanted.keys()].filter((n) => !got.includes(n));
  if (missing.length) {
    throw new UserError(`Cannot extract ${archive}: it lacks ${missing.join(", ")}`);
  }
  const sums = readSums(dir);
  for (const n of names) sums.set(n, await sha256File(`${dir}/${n}`));
  const lines = [...sums].map(([n, h]) => `${h}  ${n}`).sort((x, y) =>
    x.slice(66) < y.slice(66) ? -1 : 1
  );
  await writeAtomic(`${dir}/${SUMS_FILE}`, new TextEncoder().encode(lines.join("\n") + "\n"));
}

/**
 * Makes sure every file of a data set is present, downloading (and
 * extracting) what is missing; returns each file's path by name. Offline, or
 * with `download: false`, the UserError names the missing files, where they
 * are expected and where to get them.
 */
export async function ensureFiles(
  name: DatasetName,
  options: EnsureOptions = {},
): Promise<Map<string, string>> {
  const src = options.source ?? source(name);
  const files = neededFiles(src, options.optional);
  const found = new Map<string, string>();
  let missing: SourceFile[] = [];
  for (const f of files) {
    const p = locate(name, f, options.dataDir);
    if (p) found.set(f.name, p);
    else missing.push(f);
  }
  if (missing.length === 0) return found;
  const dir = cacheDir(name, options.dataDir);
  const log = options.log ?? ((l: string) => console.error(l));
  try {
    if (src.archive) {
      let archive = locate(name, src.archive, options.dataDir);
      if (!archive) {
        if (options.download === false) throw new DownloadError("downloads are off");
        archive = `${dir}/${src.archive.download}`;
        await downloadOne(src.archive, archive, options);
      } else {
        await verifyFile(archive, src.archive);
      }
      await Deno.mkdir(dir, { recursive: true });
      log(`${src.title}: extracting ${archive} into ${dir}/`);
      await extractArchive(src, archive, dir, missing.map((f) => f.name));
      for (const f of missing) found.set(f.name, `${dir}/${f.name}`);
      missing = [];
    } else {
      if (options.download === false) throw new DownloadError("downloads are off");
      for (const f of missing) {
        const dest = `${dir}/${f.download ?? f.name}`;
        await downloadOne(f, dest, options);
        found.set(f.name, dest);
      }
      missing = [];
    }
  } catch (e) {
    if (e instanceof DownloadError) {
      const left = missing.filter((f) => !found.has(f.name));
      throw new UserError(
        missingMessage(
          src,
          left,
          options.dataDir,
          options.download === false ? "files are missing" : `the download failed (${e.message})`,
        ),
      );
    }
    throw e;
  }
  return found;
}

async function downloadOne(f: SourceFile, dest: string, options: EnsureOptions): Promise<void> {
  if (exists(dest)) return;
  let last: Error | undefined;
  for (const url of f.urls) {
    try {
      await downloadFile(url, dest, f, options);
      return;
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      last = e;
    }
  }
  throw last ?? new DownloadError(`no URL for ${f.name}`);
}

/** One line per file of a data set: its path and whether its checksum matched. */
export interface VerifyReport {
  ok: boolean;
  lines: string[];
}

/**
 * Checks every file of a data set that is present (the archive too), without
 * downloading: SHA-256 where one is known, else says it is unchecked.
 */
export async function verifyDataset(
  name: DatasetName,
  options: { dataDir?: string; optional?: boolean; source?: DatasetSource } = {},
): Promise<VerifyReport> {
  const src = options.source ?? source(name);
  const lines: string[] = [];
  let ok = true;
  const all = [...(src.archive ? [src.archive] : []), ...neededFiles(src, options.optional)];
  for (const f of all) {
    const p = locate(name, f, options.dataDir);
    if (!p) {
      if (f !== src.archive) {
        ok = false;
        lines.push(`missing  ${f.name} (expected in ${cacheDir(name, options.dataDir)}/)`);
      }
      continue;
    }
    const sha = expectedSha256(f, p);
    if (!sha) {
      lines.push(`unchecked ${p} (no published SHA-256 for this file)`);
      continue;
    }
    try {
      await verifyFile(p, f, sha);
      lines.push(`ok       ${p}`);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      ok = false;
      lines.push(`BAD      ${e.message}`);
    }
  }
  return { ok, lines };
}
