/**
 * A streaming reader of ustar archives, enough for cifar-10-binary.tar.gz:
 * regular files, GNU long names and pax headers (skipped). Wanted members are
 * written through a temporary file and renamed into place when complete.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { tempPath } from "../util/fs.ts";

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #at = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Up to `max` bytes (at least 1), or null at the end. */
  async some(max: number): Promise<Uint8Array | null> {
    if (this.#at >= this.#buf.length) {
      const r = await this.#reader.read();
      if (r.done) return null;
      this.#buf = r.value;
      this.#at = 0;
    }
    const n = Math.min(max, this.#buf.length - this.#at);
    const out = this.#buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Exactly `n` bytes, or null when the stream ends first (with how many it had). */
  async exact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const part = await this.some(n - got);
      if (!part) return got === 0 ? null : out.subarray(0, got);
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function field(h: Uint8Array, at: number, len: number): string {
  const end = h.subarray(at, at + len).indexOf(0);
  return new TextDecoder().decode(h.subarray(at, end < 0 ? at + len : at + end));
}

function octal(h: Uint8Array, at: number, len: number): number {
  if (h[at] & 0x80) { // base-256 for large sizes
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, at, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/**
 * Extracts the members for which `dest(name)` returns a path; returns the
 * names extracted. A truncated archive or corrupt header is a UserError
 * naming `file`, and leaves no partial member behind.
 */
export async function extractTar(
  stream: ReadableStream<Uint8Array>,
  dest: (name: string) => string | undefined,
  file: string,
): Promise<string[]> {
  const r = new ByteReader(stream);
  const done: string[] = [];
  let longName: string | undefined;
  try {
    for (;;) {
      const h = await r.exact(512);
      if (!h) break;
      if (h.length < 512) throw new UserError(`Cannot extract ${file}: truncated tar header`);
      if (h.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
      if (sum !== octal(h, 148, 8)) {
        throw new UserError(`Cannot extract ${file}: corrupt tar header (checksum mismatch)`);
      }
      const size = octal(h, 124, 12);
      const type = String.fromCharCode(h[156] || 48);
      const prefix = field(h, 345, 155);
      let name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
      longName = undefined;
      const padded = Math.ceil(size / 512) * 512;
      if (type === "L") {
        const data = await r.exact(padded);
        if (!data || data.length < padded) {
          throw new UserError(`Cannot extract ${file}: truncated inside a long name`);
        }
        longName = field(data, 0, size);
        continue;
      }
      name = name.replace(/^\.\//, "");
      const target = type === "0" || type === "7" ? dest(name) : undefined;
      let left = padded;
      let toWrite = target ? size : 0;
      const tmp = target ? tempPath(target) : "";
      const out = target
        ? await Deno.open(tmp, { write: true, create: true, truncate: true })
        : null;
      try {
        while (left > 0) {
          const part = await r.some(Math.min(left, 1 << 20));
          if (!part) {
            throw new UserError(
              `Cannot extract ${file}: truncated inside member ${name} (${
                padded - left
              } of ${size} bytes)`,
            );
          }
          if (out && toWrite > 0) {
            const chunk = part.subarray(0, Math.min(part.length, toWrite));
            let w = 0;
            while (w < chunk.length) w += await out.write(chunk.subarray(w));
            toWrite -= chunk.length;
          }
          left -= part.length;
        }
        if (out) {
          out.close();
          await Deno.rename(tmp, target!);
          done.push(name);
        }
      } catch (e) {
        if (out) {
          try {
            out.close();
          } catch { /* already closed */ }
          await Deno.remove(tmp).catch(() => {});
        }
        throw e;
      }
    }
  } catch (e) {
    await r.cancel().catch(() => {});
    if (e instanceof UserError) throw e;
    throw new UserError(`Cannot extract ${file}: ${(e as Error).message}`);
  }
  return done;
}
