/**
 * File helpers for the data sets: reading a file that may be gzip-compressed,
 * streaming SHA-256, and writing through a temporary file and a rename, so
 * that nothing a user already had is ever replaced by a partial file.
 * @module
 */
import { createHash } from "node:crypto";
import { UserError } from "../util/errors.ts";

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a whole stream into one array. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Inflates gzip ("gzip") or zlib ("deflate") data; a corrupt or truncated stream is a UserError naming `what`. */
export async function inflate(
  bytes: Uint8Array,
  format: "gzip" | "deflate",
  what: string,
): Promise<Uint8Array> {
  try {
    const input = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
    return await collect(input.pipeThrough(new DecompressionStream(format)));
  } catch (e) {
    throw new UserError(
      `Cannot read ${what}: its ${
        format === "gzip" ? "gzip" : "zlib"
      } data is corrupt or truncated (${(e as Error).message})`,
    );
  }
}

/** Reads a file, gunzipping it when it is gzip-compressed; a missing file is a UserError. */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new UserError(`Cannot read ${path}: ${(e as Error).message}`);
  }
  return isGzip(bytes) ? await inflate(bytes, "gzip", path) : bytes;
}

/** Hex SHA-256 of bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Hex SHA-256 of a file, streamed: of its bytes, or with `gunzip` of its
 * decompressed content when it is gzip-compressed.
 */
export async function sha256File(path: string, gunzip = false): Promise<string> {
  const hash = createHash("sha256");
  let gz = false;
  if (gunzip) {
    const head = new Uint8Array(2);
    const f = await Deno.open(path);
    try {
      gz = (await f.read(head)) === 2 && isGzip(head);
    } finally {
      f.close();
    }
  }
  const file = await Deno.open(path);
  const stream = gz ? file.readable.pipeThrough(new DecompressionStream("gzip")) : file.readable;
  try {
    for await (const chunk of stream) hash.update(chunk);
  } catch (e) {
    throw new UserError(
      `Cannot check ${path}: its gzip data is corrupt or truncated (${(e as Error).message})`,
    );
  }
  return hash.digest("hex");
}
