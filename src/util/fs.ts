/**
 * Small file-system helpers every layer uses: nothing a user had is ever
 * replaced by a partial file, and a failure of the machine's file system
 * (a missing folder, a permission, a full disk) becomes a one-line
 * UserError naming the file.
 * @module
 */
import { UserError } from "./errors.ts";

/** True when `path` exists (file or folder). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The pattern of the names {@linkcode tempPath} makes. */
export const TEMP_NAME = /\.tmp-\d+-\d+$/;

/** A temporary name beside `path`, unique to this process. */
export function tempPath(path: string): string {
  return `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/**
 * True for an error of the operating system's file calls (Deno's error
 * classes, or an error with an errno code such as ENOSPC or EROFS): the
 * user's environment, not a bug.
 */
export function isFileSystemError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  const errors = Deno.errors;
  const classes = [
    errors.NotFound,
    errors.PermissionDenied,
    errors.AlreadyExists,
    errors.NotADirectory,
    errors.IsADirectory,
    errors.FilesystemLoop,
    errors.InvalidData,
  ];
  if (classes.some((c) => e instanceof c)) return true;
  const code = (e as { code?: unknown }).code;
  // Deno leaves some errno values without a code (EFBIG: "File too large (os error 27)").
  return (typeof code === "string" && /^E[A-Z]+$/.test(code)) || /\(os error \d+\)/.test(e.message);
}

/** The operating system's reason without the call and path Deno appends. */
export function reasonOf(e: Error): string {
  return e.message.replace(/ \(os error \d+\).*$/s, "");
}

/** `e` as a UserError "`what`: reason" when the file system raised it; otherwise `e` itself. */
export function fileError(e: unknown, what: string): unknown {
  return isFileSystemError(e) ? new UserError(`${what}: ${reasonOf(e)}`) : e;
}

/**
 * Writes `data` to `path` through a temporary file and a rename; on failure
 * the temporary file is removed and the error names `path`.
 */
export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = tempPath(path);
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw fileError(e, `Cannot write ${path}`);
  }
}
