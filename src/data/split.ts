/**
 * The semi-supervised split, as in VAT's code: a labelled subset balanced
 * across classes (labels / classes per class; or, unbalanced, the first of a
 * random permutation, as VAT's SVHN code), chosen by the data seed alone,
 * so it is reproducible and independent of the training seed; the unlabelled
 * set is the whole training set (the labelled samples included). An optional
 * validation hold-out is drawn first and removed from both.
 * @module
 */
import { UserError } from "../util/errors.ts";
import type { ImageSet } from "./datasets.ts";
import { DataRng, Streams } from "./rng.ts";

/** Options of {@linkcode splitTrain}; the keys match the command line's flags. */
export interface SplitOptions {
  /** Labelled samples (--labels), a multiple of the number of classes. */
  labels: number;
  /** Seed of the split (--data-seed). */
  dataSeed: number;
  /** Samples held out for validation (--validation), default 0. */
  validation?: number;
  /** Number of classes (default 10). */
  classes?: number;
  /**
   * Labelled samples balanced across classes (default true, as VAT's
   * CIFAR-10 code); false takes the first of the permutation (VAT's SVHN).
   */
  balanced?: boolean;
}

/** Indices into the training set, each ascending. */
export interface Split {
  labelled: Int32Array;
  unlabelled: Int32Array;
  validation: Int32Array;
}

/** Splits a training set given its labels; impossible requests are UserErrors naming the flag. */
export function splitTrain(labels: ArrayLike<number>, options: SplitOptions): Split {
  const classes = options.classes ?? 10;
  const n = labels.length;
  const nl = options.labels;
  const nv = options.validation ?? 0;
  const balanced = options.balanced ?? true;
  if (!Number.isInteger(nl) || nl < 1) {
    throw new UserError(
      `Cannot split the training set: --labels must be a positive integer, got ${nl}`,
    );
  }
  if (balanced && (nl < classes || nl % classes !== 0)) {
    throw new UserError(
      `Cannot split the training set: --labels must be a positive multiple of ${classes} (balanced classes), got ${nl}`,
    );
  }
  if (!Number.isInteger(nv) || nv < 0) {
    throw new UserError(
      `Cannot split the training set: --validation must be an integer >= 0, got ${nv}`,
    );
  }
  if (nl + nv > n) {
    throw new UserError(
      `Cannot split the training set: --labels ${nl} plus --validation ${nv} exceed its ${n} samples`,
    );
  }
  const perm = new DataRng(options.dataSeed, Streams.split).permutation(n);
  const held = new Uint8Array(n);
  const validation = perm.slice(0, nv);
  for (const i of validation) held[i] = 1;
  const perClass = balanced ? nl / classes : Infinity;
  const taken = new Int32Array(classes);
  const labelled: number[] = [];
  for (let k = nv; k < n && labelled.length < nl; k++) {
    const i = perm[k];
    const c = labels[i];
    if (c >= 0 && c < classes && taken[c] < perClass) {
      taken[c]++;
      labelled.push(i);
    }
  }
  if (labelled.length < nl && !balanced) {
    throw new UserError(
      `Cannot split the training set: only ${labelled.length} samples have a label in 0..${
        classes - 1
      }, --labels asks for ${nl}`,
    );
  }
  if (labelled.length < nl) {
    const short = [...taken].map((t, c) => [c, t] as const).filter(([, t]) => t < perClass);
    throw new UserError(
      `Cannot split the training set: --labels ${nl} needs ${perClass} per class, but class ${
        short[0][0]
      } has only ${short[0][1]} samples outside the validation set`,
    );
  }
  const unlabelled = new Int32Array(n - nv);
  for (let i = 0, k = 0; i < n; i++) if (!held[i]) unlabelled[k++] = i;
  return {
    labelled: Int32Array.from(labelled).sort(),
    unlabelled,
    validation: validation.sort(),
  };
}

/** The rows `index` of a set, copied (one row copy each) into a new set. */
export function subset(set: ImageSet, index: Int32Array): ImageSet {
  const [, c, h, w] = set.shape;
  const d = c * h * w;
  const images = new Float32Array(new SharedArrayBuffer(index.length * d * 4));
  const labels = new Float32Array(index.length);
  index.forEach((i, k) => {
    images.set(set.images.subarray(i * d, (i + 1) * d), k * d);
    labels[k] = set.labels[i];
  });
  return { images, labels, shape: [index.length, c, h, w] };
}
