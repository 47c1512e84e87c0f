/**
 * TensorBoard's event files, written by our own small encoder: a run's
 * metrics as scalar summaries that `tensorboard --logdir runs/` shows beside
 * PyTorch's runs.
 *
 * A file is a sequence of records, each
 *   uint64 length, uint32 masked CRC-32C of the length, the bytes, uint32
 *   masked CRC-32C of the bytes (little-endian),
 * holding one serialised `tensorflow.Event` protobuf; the first says the
 * file's version ("brain.Event:2"), each further one holds a step's scalars:
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3;
 *           Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value { string tag = 1; float simple_value = 2; }
 * @module
 */
import { concatBytes } from "../util/bytes.ts";

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) lookup table. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** The CRC-32C of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotated right by 15 bits, plus a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A growable buffer of protobuf wire-format bytes. */
class ProtoWriter {
  #bytes: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // int64: two's complement in 10 bytes
    do {
      const low = Number(x & 0x7fn);
      x >>= 7n;
      this.#bytes.push(x > 0n ? low | 0x80 : low);
    } while (x > 0n);
    return this;
  }

  #key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.#key(field, 1).#bytes.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#key(field, 5).#bytes.push(...b);
    return this;
  }

  int64(field: number, v: number): this {
    return this.#key(field, 0).varint(v);
  }

  bytes(field: number, b: Uint8Array): this {
    this.#key(field, 2).varint(b.length).#bytes.push(...b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** One record of the TFRecord framing around `data`. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** The first record of every event file: its version. */
export function versionRecord(wallTime: number): Uint8Array {
  return frameRecord(new ProtoWriter().double(1, wallTime).string(3, "brain.Event:2").finish());
}

/** A record of one step's scalars (tag -> value; stored as float32, as TensorBoard does). */
export function scalarsRecord(
  step: number,
  wallTime: number,
  scalars: Record<string, number>,
): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, v] of Object.entries(scalars)) {
    summary.bytes(1, new ProtoWriter().string(1, tag).float(2, v).finish());
  }
  return frameRecord(
    new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish()).finish(),
  );
}

/**
 * The scalars of one metrics.jsonl record under TensorBoard tags: an
 * evaluation's (it has test_error) as `eval/<key>`, a logging interval's as
 * `train/<key>`; `iteration` and `time` are the event's step and wall time.
 */
export function metricScalars(record: Record<string, unknown>): Record<string, number> {
  const group = typeof record.test_error === "number" ? "eval" : "train";
  return Object.fromEntries(
    Object.entries(record)
      .filter(([k, v]) => k !== "iteration" && k !== "time" && typeof v === "number")
      .map(([k, v]) => [`${group}/${k}`, v as number]),
  );
}

/** The record of one metrics.jsonl line (its `time`, else `now`, as the wall time). */
export function metricRecord(record: Record<string, unknown>, now: number): Uint8Array {
  const time = typeof record.time === "number" ? record.time : now;
  return scalarsRecord(record.iteration as number, time, metricScalars(record));
}

/** A whole event file for the records of a metrics.jsonl file. */
export function eventFile(records: Record<string, unknown>[], now: number): Uint8Array {
  const first = records.find((r) => typeof r.time === "number")?.time as number | undefined;
  const parts = [versionRecord(first ?? now), ...records.map((r) => metricRecord(r, now))];
  return concatBytes(parts);
}
