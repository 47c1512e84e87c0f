/**
 * Small file-system helpers every layer uses: nothing a user had is ever
 * replaced by a partial file.
 * @module
 */

/** True when `path` exists (file or folder). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A temporary name beside `path`, unique to this process. */
export function tempPath(path: string): string {
  return `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/** Writes `data` to `path` through a temporary file and a rename. */
export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = tempPath(path);
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
