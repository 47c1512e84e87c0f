/**
 * IDX files (MNIST, Fashion-MNIST): a magic number (two zero bytes, the type
 * 0x08 for unsigned bytes, the number of dimensions), the dimensions as
 * big-endian 32-bit integers, then the data in row-major order.
 * @module
 */
import { UserError } from "../util/errors.ts";

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  dims: number[];
  /** A view into the file's bytes (no copy). */
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "short",
  0x0c: "int",
  0x0d: "float",
  0x0e: "double",
};

/** Parses an IDX file of unsigned bytes; any inconsistency is a UserError naming `file`. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new UserError(
      `Cannot read ${file}: truncated (${bytes.length} bytes, not even an IDX header)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(bytes[2] in TYPE_NAMES) || bytes[3] < 1) {
    throw new UserError(
      `Cannot read ${file}: wrong magic number 0x${
        magic.toString(16).padStart(8, "0")
      } (not an IDX file)`,
    );
  }
  if (bytes[2] !== 0x08) {
    throw new UserError(
      `Cannot read ${file}: IDX data of type ${TYPE_NAMES[bytes[2]]} (0x${
        bytes[2].toString(16)
      }) is not supported; expected unsigned bytes (0x08)`,
    );
  }
  const ndims = bytes[3];
  const header = 4 + 4 * ndims;
  if (bytes.length < header) {
    throw new UserError(
      `Cannot read ${file}: truncated header (${bytes.length} bytes, ${ndims} dimensions need ${header})`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - header;
  if (have < size) {
    throw new UserError(
      `Cannot read ${file}: truncated: dimensions ${
        dims.join("x")
      } need ${size} data bytes, the file has ${have}`,
    );
  }
  if (have > size) {
    throw new UserError(
      `Cannot read ${file}: dimensions ${
        dims.join("x")
      } need ${size} data bytes, but the file has ${have} (${have - size} too many)`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}
