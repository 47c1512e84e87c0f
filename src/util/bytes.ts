/**
 * Byte-array helpers for the file formats we write (PNG, TensorBoard's
 * event files) and the test data that mimics the formats we read.
 * @module
 */

/** The byte arrays `parts`, one after another, in one new array. */
export function concatBytes(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
