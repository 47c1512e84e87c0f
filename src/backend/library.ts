/**
 * The native libraries the backends load: where they are, whether they are
 * fresh, and building them when they are not. build.ts is the builder
 * (`deno task build-native`); nothing imports it. Each library has a stamp
 * beside it (`<lib>.stamp.json`: the SHA-256 of the flags and input files it
 * was built from, and their list), so a process can tell a stale library
 * from a fresh one without knowing the recipe, and runs build.ts in a
 * subprocess when the sources have changed since.
 * @module
 */
import { SetupError } from "../util/errors.ts";
import { exists, writeAtomic } from "../util/fs.ts";
import { concatBytes } from "../util/bytes.ts";

/** The precision of a CPU library: float32 (what the tool runs on) or float64 (gradient checks). */
export type Precision = "f32" | "f64";

/** The libraries build.ts makes. */
export type LibraryName = "cpu-f32" | "cpu-f64" | "cuda";

/** The repository's root folder. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** The variable that moves the libraries elsewhere (CI's sanitizer build). */
export const BUILD_DIR_ENV = "ADVSSL_BUILD_DIR";

/**
 * Where build.ts writes the libraries and the backends load them:
 * $ADVSSL_BUILD_DIR (relative to the root unless absolute), else build/.
 */
export const BUILD_DIR: string = (() => {
  const dir = Deno.env.get(BUILD_DIR_ENV);
  if (!dir) return `${ROOT}build`;
  return dir.startsWith("/") ? dir : `${ROOT}${dir}`;
})();

/** Path of a library. */
export function libraryPath(name: LibraryName): string {
  return `${BUILD_DIR}/libadvssl_${name.replace("-", "_")}.so`;
}

/** Path of the CPU library of one precision. */
export const cpuLibraryPath = (precision: Precision): string => libraryPath(`cpu-${precision}`);

/** What a library was built from. */
export interface Stamp {
  sha256: string;
  /** The compiler flags, as one list. */
  flags: string[];
  /** The input files, relative to the repository's root. */
  inputs: string[];
}

/** The SHA-256 of flags and the contents of input files (paths relative to the root). */
export async function digest(flags: string[], inputs: string[]): Promise<string> {
  const enc = new TextEncoder();
  const parts = [...flags.map((f) => enc.encode(f)), ...inputs.map((f) => enc.encode(f))];
  for (const f of inputs) parts.push(Deno.readFileSync(`${ROOT}${f}`));
  // Each part ends with a zero byte, so that ["ab", "c"] and ["a", "bc"] differ.
  const all = concatBytes(parts.flatMap((p) => [p, new Uint8Array(1)]));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const stampPath = (lib: string) => `${lib}.stamp.json`;

/** The stamp of a library, or null when it has none (or an unreadable one). */
export function readStamp(lib: string): Stamp | null {
  try {
    return JSON.parse(Deno.readTextFileSync(stampPath(lib))) as Stamp;
  } catch {
    return null;
  }
}

/** Writes a library's stamp (after the library itself is in place). */
export function writeStamp(lib: string, stamp: Stamp): Promise<void> {
  return writeAtomic(
    stampPath(lib),
    new TextEncoder().encode(JSON.stringify(stamp, null, 1) + "\n"),
  );
}

/** True when the library exists and its inputs are as they were when it was built. */
export async function isFresh(name: LibraryName): Promise<boolean> {
  const lib = libraryPath(name);
  const stamp = readStamp(lib);
  if (!exists(lib) || !stamp || !stamp.inputs.every((f) => exists(`${ROOT}${f}`))) return false;
  return await digest(stamp.flags, stamp.inputs) === stamp.sha256;
}

/**
 * Makes sure a library is built and fresh, running build.ts in a subprocess
 * when it is not. A build that fails is a SetupError with build.ts's message;
 * returns the reason when build.ts skipped the CUDA library (no toolkit).
 */
export async function ensureLibrary(name: LibraryName): Promise<{ skipped?: string }> {
  if (await isFresh(name)) return {};
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      `${ROOT}build.ts`,
      name,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const [out, err] = [text.decode(r.stdout), text.decode(r.stderr).trim()];
  if (!r.success) {
    const why = err.replace(/^error: /, "") || `build.ts exited with code ${r.code}`;
    throw new SetupError(`${why} (then run: deno task build-native)`);
  }
  if (err) console.error(err); // compiler warnings
  const skipped = out.match(/^cuda: skipped: (.*)$/m);
  return skipped ? { skipped: skipped[1] } : {};
}
