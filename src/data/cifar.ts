/**
 * CIFAR-10's binary version: records of 1 label byte (0..9) and 3072 pixel
 * bytes, the red, green and blue planes of a 32x32 image, each row-major.
 * @module
 */
import { UserError } from "../util/errors.ts";

/** Bytes of one record. */
export const CIFAR_RECORD = 1 + 3 * 32 * 32;

/** The records of one batch file. */
export interface CifarRecords {
  count: number;
  /** The whole file: record i at i * CIFAR_RECORD, its label first. */
  bytes: Uint8Array;
}

/** Checks a CIFAR-10 batch file's size and labels; any problem is a UserError naming `file`. */
export function parseCifar(bytes: Uint8Array, file: string, classes = 10): CifarRecords {
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) {
    const whole = Math.floor(bytes.length / CIFAR_RECORD);
    throw new UserError(
      `Cannot read ${file}: its size ${bytes.length} is not a whole number of ${CIFAR_RECORD}-byte records (${whole} records and ${
        bytes.length - whole * CIFAR_RECORD
      } bytes; truncated or not a CIFAR-10 binary batch)`,
    );
  }
  const count = bytes.length / CIFAR_RECORD;
  for (let i = 0; i < count; i++) {
    const label = bytes[i * CIFAR_RECORD];
    if (label >= classes) {
      throw new UserError(
        `Cannot read ${file}: record ${i} has label ${label}, outside 0..${classes - 1}`,
      );
    }
  }
  return { count, bytes };
}
