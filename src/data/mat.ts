/**
 * MATLAB level-5 MAT files (SVHN's train_32x32.mat and friends): a 128-byte
 * header, then data elements, each an 8-byte tag (type, byte count) or a
 * 4-byte "small element" tag, padded to 8 bytes. Arrays are miMATRIX
 * elements (flags, dimensions, name, real part), possibly wrapped in
 * miCOMPRESSED elements holding a zlib stream. Numeric data is column-major:
 * the first index varies fastest.
 *
 * Level 4 files and level 7.3 files (HDF5) are refused with a message saying
 * how to re-save the file; so are cell, struct, sparse, character and complex
 * arrays.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { inflate } from "./io.ts";

/** A numeric array read from a MAT file. */
export interface MatArray {
  name: string;
  /** MATLAB class, e.g. "uint8" or "double". */
  className: string;
  /** Dimensions, first index fastest (column-major). */
  dims: number[];
  /** The real part as stored, converted to a typed array of the storage type. */
  data:
    | Uint8Array
    | Int8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array
    | Float32Array
    | Float64Array
    | BigInt64Array
    | BigUint64Array;
}

const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;

const STORAGE: Record<number, { bytes: number; make: (b: ArrayBuffer) => MatArray["data"] }> = {
  [MI.INT8]: { bytes: 1, make: (b) => new Int8Array(b) },
  [MI.UINT8]: { bytes: 1, make: (b) => new Uint8Array(b) },
  [MI.INT16]: { bytes: 2, make: (b) => new Int16Array(b) },
  [MI.UINT16]: { bytes: 2, make: (b) => new Uint16Array(b) },
  [MI.INT32]: { bytes: 4, make: (b) => new Int32Array(b) },
  [MI.UINT32]: { bytes: 4, make: (b) => new Uint32Array(b) },
  [MI.SINGLE]: { bytes: 4, make: (b) => new Float32Array(b) },
  [MI.DOUBLE]: { bytes: 8, make: (b) => new Float64Array(b) },
  [MI.INT64]: { bytes: 8, make: (b) => new BigInt64Array(b) },
  [MI.UINT64]: { bytes: 8, make: (b) => new BigUint64Array(b) },
};

const CLASSES: Record<number, string> = {
  1: "cell",
  2: "struct",
  3: "object",
  4: "char",
  5: "sparse",
  6: "double",
  7: "single",
  8: "int8",
  9: "uint8",
  10: "int16",
  11: "uint16",
  12: "int32",
  13: "uint32",
  14: "int64",
  15: "uint64",
};

interface Element {
  type: number;
  data: Uint8Array;
}

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly le: boolean, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The element at `at`, and where the next one starts. */
  element(at: number): [Element, number] {
    if (at + 8 > this.bytes.length && !(at + 4 <= this.bytes.length && this.#small(at))) {
      throw new UserError(
        `Cannot read ${this.file}: truncated (a data element's tag at byte ${at})`,
      );
    }
    if (this.#small(at)) {
      const w = this.view.getUint32(at, this.le);
      const type = w & 0xffff, n = w >>> 16;
      if (n > 4) {
        throw new UserError(`Cannot read ${this.file}: corrupt small element at byte ${at}`);
      }
      return [{ type, data: this.bytes.subarray(at + 4, at + 4 + n) }, at + 8];
    }
    const type = this.view.getUint32(at, this.le);
    const n = this.view.getUint32(at + 4, this.le);
    const end = at + 8 + n;
    if (end > this.bytes.length) {
      throw new UserError(
        `Cannot read ${this.file}: truncated: an element at byte ${at} needs ${n} bytes, ${
          this.bytes.length - at - 8
        } remain`,
      );
    }
    // Compressed elements are not padded; the others are to 8 bytes.
    const next = type === MI.COMPRESSED ? end : at + 8 + Math.ceil(n / 8) * 8;
    return [{ type, data: this.bytes.subarray(at + 8, end) }, Math.min(next, this.bytes.length)];
  }

  #small(at: number): boolean {
    if (at + 4 > this.bytes.length) return false;
    return (this.view.getUint32(at, this.le) >>> 16) !== 0;
  }
}

function checkHeader(bytes: Uint8Array, file: string): boolean {
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(116, bytes.length)));
  if (bytes.length < 128) {
    if (text.startsWith("MATLAB")) {
      throw new UserError(
        `Cannot read ${file}: truncated (${bytes.length} bytes, the header needs 128)`,
      );
    }
    throw new UserError(`Cannot read ${file}: not a MAT-file of level 5 (no 128-byte header)`);
  }
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  const le = endian === "IM";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(124, le);
  if (text.startsWith("MATLAB 7.3") || version === 0x0200) {
    throw new UserError(
      `Cannot read ${file}: MAT-file level 7.3 (HDF5) is not supported; re-save it in MATLAB with save(..., '-v7') or in Python with scipy.io.savemat`,
    );
  }
  if ((endian !== "IM" && endian !== "MI") || version !== 0x0100) {
    throw new UserError(
      `Cannot read ${file}: not a MAT-file of level 5 (a level 4 file or not a MAT-file; wrong header: ${
        JSON.stringify(text.slice(0, 20))
      }); re-save it with save(..., '-v7')`,
    );
  }
  return le;
}

function typedCopy(el: Element, le: boolean, what: string): MatArray["data"] {
  const st = STORAGE[el.type];
  if (!st) throw new UserError(`Cannot read ${what}: unsupported data type ${el.type}`);
  if (el.data.length % st.bytes !== 0) {
    throw new UserError(
      `Cannot read ${what}: ${el.data.length} bytes is not a whole number of values`,
    );
  }
  if (el.type === MI.UINT8) return el.data; // a view: SVHN's images are large
  if (st.bytes === 1) return st.make(el.data.slice().buffer);
  const copy = el.data.slice();
  if (!le) { // big-endian file: swap each value's bytes
    for (let i = 0; i < copy.length; i += st.bytes) copy.subarray(i, i + st.bytes).reverse();
  }
  return st.make(copy.buffer);
}

function parseMatrix(
  el: Element,
  le: boolean,
  file: string,
): MatArray | { name: string; unsupported: string } {
  const r = new Reader(el.data, le, file);
  const [flags, a1] = r.element(0);
  const fv = new DataView(flags.data.buffer, flags.data.byteOffset, flags.data.byteLength);
  if (flags.type !== MI.UINT32 || flags.data.length < 8) {
    throw new UserError(`Cannot read ${file}: corrupt array flags`);
  }
  const f0 = fv.getUint32(0, le);
  const cls = f0 & 0xff;
  const complex = (f0 & 0x800) !== 0;
  const [dimsEl, a2] = r.element(a1);
  if (dimsEl.type !== MI.INT32) {
    throw new UserError(`Cannot read ${file}: corrupt array dimensions`);
  }
  const dv = new DataView(dimsEl.data.buffer, dimsEl.data.byteOffset, dimsEl.data.byteLength);
  const dims: number[] = [];
  for (let i = 0; i + 4 <= dimsEl.data.length; i += 4) dims.push(dv.getInt32(i, le));
  const [nameEl, a3] = r.element(a2);
  const name = new TextDecoder().decode(nameEl.data);
  const className = CLASSES[cls] ?? `class ${cls}`;
  if (cls < 6 || cls > 15) return { name, unsupported: `a ${className} array` };
  if (complex) return { name, unsupported: `a complex ${className} array` };
  const [real] = r.element(a3);
  const data = typedCopy(real, le, `${file} (array '${name}')`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new UserError(
      `Cannot read ${file}: array '${name}' of dimensions ${
        dims.join("x")
      } needs ${count} values, its data has ${data.length}`,
    );
  }
  return { name, className, dims, data };
}

/**
 * Reads the numeric arrays of a level-5 MAT file. Arrays of other kinds are
 * listed in `unsupported` (name to kind) so that a caller can say why a
 * variable it wants is unusable. Any damage is a UserError naming `file`.
 */
export async function readMat(
  bytes: Uint8Array,
  file: string,
): Promise<{ arrays: Map<string, MatArray>; unsupported: Map<string, string> }> {
  const le = checkHeader(bytes, file);
  const top = new Reader(bytes, le, file);
  const arrays = new Map<string, MatArray>();
  const unsupported = new Map<string, string>();
  let at = 128;
  while (at < bytes.length) {
    let [el, next] = top.element(at);
    if (el.type === MI.COMPRESSED) {
      const inner = await inflate(
        el.data,
        "deflate",
        `${file} (a compressed element at byte ${at})`,
      );
      [el] = new Reader(inner, le, file).element(0);
    }
    if (el.type === MI.MATRIX) {
      const m = parseMatrix(el, le, file);
      if ("unsupported" in m) unsupported.set(m.name, m.unsupported);
      else arrays.set(m.name, m);
    } else {
      unsupported.set(`(element at byte ${at})`, `data type ${el.type} at the top level`);
    }
    at = next;
  }
  return { arrays, unsupported };
}
