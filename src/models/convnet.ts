/**
 * VAT's convolutional classifiers for 32x32 images (Miyato et al., "Virtual
 * Adversarial Training", TPAMI 2018, Table 7), "Conv-Large" and "Conv-Small".
 *
 * Conv-Large follows the authors' code, takerum/vat_tf `cnn.py` and
 * `layers.py`:
 *
 *     [3x3 conv 128, BN, lReLU(0.1)] x3, 2x2 max-pool stride 2, dropout 0.5,
 *     [3x3 conv 256, BN, lReLU(0.1)] x3, 2x2 max-pool stride 2, dropout 0.5,
 *     3x3 conv 512 (valid, 8x8 -> 6x6), BN, lReLU,
 *     1x1 conv 256, BN, lReLU,  1x1 conv 128, BN, lReLU,
 *     global average pool, dense 128 -> 10 (+ BN on the logits with `topBn`).
 *
 * As there: convolutions have no bias (batch norm follows each), batch norm
 * comes before the leaky ReLU, its running statistics decay by 0.99 (our
 * momentum 0.01) and its epsilon is 1e-6, dropout is elementwise (tf.nn.dropout,
 * keep 0.5), the dense layer has a bias. `top_bn` is off in vat_tf's CIFAR-10
 * commands and on in its SVHN ones, hence the option (default off).
 *
 * Conv-Small is Table 7's CIFAR-10 column: widths 96 / 192, then 3x3 conv 192
 * (valid), 1x1 conv 192, 1x1 conv 192, dense 192 -> 10; the SVHN column is the
 * same with widths 64 / 128 (`widths: [64, 128]`). vat_tf has no Conv-Small;
 * its layers are built as Conv-Large's.
 *
 * Not as vat_tf: weights take the layers' PyTorch default initialisation
 * (as every model here) rather than TensorFlow's He truncated normal.
 * @module
 */
import type { Backend } from "../backend/backend.ts";
import type { Rng } from "../ops/random.ts";
import {
  BatchNorm,
  Conv2d,
  Dropout,
  GaussianNoise,
  GlobalAvgPool2d,
  LeakyReLU,
  Linear,
  MaxPool2d,
  Sequential,
} from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";

/** Settings of the VAT conv nets. */
export interface ConvNetOptions {
  /** Channels of the input image (3 for CIFAR-10 and SVHN). */
  inChannels: number;
  classes: number;
  /** Batch norm on the logits (vat_tf's --top_bn: on for SVHN, off for CIFAR-10). */
  topBn?: boolean;
  /** Dropout probability after each max-pool (0.5). */
  dropout?: number;
  /** Standard deviation of Gaussian noise added to the input in training (0: none, as vat_tf). */
  inputNoise?: number;
}

/** VAT's batch-norm settings (layers.py): decay 0.99 of the running statistics, epsilon 1e-6. */
const BN_MOMENTUM = 0.01;
const BN_EPS = 1e-6;
const LRELU_SLOPE = 0.1;

/**
 * A VAT conv net: Sequential with its dropout / noise stream exposed, so a
 * method can checkpoint it with its other random streams.
 */
export class VatConvNet extends Sequential {
  constructor(readonly noise: Rng, layers: Module[]) {
    super(...layers);
  }
}

/** The shape of one VAT conv net: two stages of three 3x3 convs, then the head convs. */
interface Spec {
  stages: [number, number];
  /** Output channels of the 3x3 valid conv and the two 1x1 convs. */
  head: [number, number, number];
}

function vatConvNet(backend: Backend, rng: Rng, spec: Spec, opts: ConvNetOptions): VatConvNet {
  const noise = rng.fork();
  const layers: Module[] = [];
  const convBn = (cin: number, cout: number, kernel: number, padding: number) => {
    layers.push(new Conv2d(backend, rng, cin, cout, kernel, { padding, bias: false }));
    layers.push(new BatchNorm(backend, cout, BN_MOMENTUM, BN_EPS));
    layers.push(LeakyReLU(LRELU_SLOPE));
  };
  if (opts.inputNoise) layers.push(new GaussianNoise(opts.inputNoise, noise));
  let c = opts.inChannels;
  for (const width of spec.stages) {
    for (let i = 0; i < 3; i++) {
      convBn(c, width, 3, 1);
      c = width;
    }
    layers.push(MaxPool2d(2, 2));
    layers.push(new Dropout(opts.dropout ?? 0.5, noise));
  }
  convBn(c, spec.head[0], 3, 0);
  convBn(spec.head[0], spec.head[1], 1, 0);
  convBn(spec.head[1], spec.head[2], 1, 0);
  layers.push(GlobalAvgPool2d());
  layers.push(new Linear(backend, rng, spec.head[2], opts.classes));
  if (opts.topBn) layers.push(new BatchNorm(backend, opts.classes, BN_MOMENTUM, BN_EPS));
  return new VatConvNet(noise, layers);
}

/** VAT's Conv-Large (3.12 M parameters for 3 input channels and 10 classes). */
export function convLarge(backend: Backend, rng: Rng, opts: ConvNetOptions): VatConvNet {
  return vatConvNet(backend, rng, { stages: [128, 256], head: [512, 256, 128] }, opts);
}

/**
 * VAT's Conv-Small: widths [96, 192] (CIFAR-10, the default, 1.41 M
 * parameters) or [64, 128] (SVHN).
 */
export function convSmall(
  backend: Backend,
  rng: Rng,
  opts: ConvNetOptions & { widths?: [number, number] },
): VatConvNet {
  const [a, b] = opts.widths ?? [96, 192];
  return vatConvNet(backend, rng, { stages: [a, b], head: [b, b, b] }, opts);
}
