/**
 * Reverse-mode autodiff on a tape. Every op that has an input wanting a
 * gradient appends a node (its output, inputs and backward rule) to the tape;
 * {@linkcode backward} walks the tape from the end and each rule writes its
 * inputs' gradients through {@linkcode GradContext.slot}, which decides
 * whether to write or accumulate.
 *
 * Gradients can be taken with respect to the parameters (accumulated into
 * each leaf's `grad`, as `loss.backward()` in PyTorch) or with respect to
 * chosen tensors, inputs included (returned, as `torch.autograd.grad`), which
 * VAT and the generator need. Only nodes on a path to a wanted tensor run.
 * @module
 */
import type { Storage } from "../backend/backend.ts";
import { onScope, persistent, Tensor } from "./tensor.ts";

/** Writes the gradients of a node's inputs, given the gradient of its output. */
export type BackwardRule = (gradOutput: Storage, ctx: GradContext) => void;

interface Node {
  op: string;
  output: Tensor;
  inputs: Tensor[];
  backward: BackwardRule;
}

const tape: Node[] = [];
/** Tape length when each open scope started, to cut the tape back when it ends. */
const scopeMarks: number[] = [];
let gradEnabled = true;

// A scope's nodes refer to its tensors, so they leave the tape when it ends.
onScope(
  (depth) => {
    scopeMarks[depth - 1] = tape.length;
  },
  (depth) => {
    tape.length = Math.min(tape.length, scopeMarks[depth - 1]);
    scopeMarks.length = depth - 1;
  },
);

/** Whether ops are being recorded now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording: nothing it computes gets a gradient. */
export function noGrad<T>(fn: () => T): T {
  const saved = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = saved;
  }
}

/** A tensor over the same memory that gradients do not flow through (stop-gradient). */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}

/**
 * Records `output = op(inputs)` if grad mode is on and some input wants a
 * gradient; `backward` is called with the output's gradient during backward().
 */
export function record(
  op: string,
  output: Tensor,
  inputs: (Tensor | null | undefined)[],
  backward: BackwardRule,
): void {
  if (!gradEnabled) return;
  const ins = inputs.filter((t): t is Tensor => !!t);
  if (!ins.some((t) => t.requiresGrad)) return;
  output.requiresGrad = true;
  output.hasNode = true;
  tape.push({ op, output, inputs: ins, backward });
}

/** Where a backward rule writes one input's gradient: write (`acc` false) or add (`acc` true). */
export interface GradSlot {
  g: Storage;
  acc: boolean;
}

/** Hands out gradient buffers during one backward pass. */
export class GradContext {
  /** Gradients of the tensors on a path to a wanted tensor. */
  readonly grads = new Map<Tensor, Tensor>();
  readonly #wanted: Set<Tensor>;
  readonly #intoLeaves: boolean;

  constructor(wanted: Set<Tensor>, intoLeaves: boolean) {
    this.#wanted = wanted;
    this.#intoLeaves = intoLeaves;
  }

  /** Whether `t`'s gradient is needed (it lies on a path to a wanted tensor). */
  needs(t: Tensor): boolean {
    return this.#wanted.has(t);
  }

  /** The buffer for `t`'s gradient, or null when nobody needs it (skip the work). */
  slot(t: Tensor): GradSlot | null {
    if (!this.#wanted.has(t)) return null;
    if (this.#intoLeaves && !t.hasNode) {
      if (!t.grad) t.grad = persistent(() => Tensor.empty(t.backend, t.shape));
      const acc = t.gradReady;
      t.gradReady = true;
      return { g: t.grad.storage, acc };
    }
    const g = this.grads.get(t);
    if (g) return { g: g.storage, acc: true };
    const fresh = Tensor.empty(t.backend, t.shape);
    this.grads.set(t, fresh);
    return { g: fresh.storage, acc: false };
  }
}

/** Tensors whose gradient is needed: the targets and every node output that depends on one. */
function wantedSet(targets: Iterable<Tensor>): Set<Tensor> {
  const wanted = new Set(targets);
  for (const node of tape) {
    if (node.inputs.some((t) => wanted.has(t))) wanted.add(node.output);
  }
  return wanted;
}

function run(loss: Tensor, ctx: GradContext, keepGrads: Set<Tensor>, seed?: Tensor): void {
  if (!ctx.needs(loss)) return;
  const g0 = Tensor.empty(loss.backend, loss.shape);
  if (seed) loss.backend.copy(g0.storage, seed.storage);
  else loss.backend.fill(g0.storage, 1);
  ctx.grads.set(loss, g0);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    const g = ctx.grads.get(node.output);
    if (!g) continue;
    node.backward(g.storage, ctx);
    // Each output's gradient is consumed once, by the node that produced it.
    if (!keepGrads.has(node.output)) {
      ctx.grads.delete(node.output);
      g.dispose();
    }
  }
}

/** Options of {@linkcode backward}. */
export interface BackwardOptions {
  /** d out / d loss, for a loss of more than one element (ones by default). */
  seed?: Tensor;
  /**
   * The leaves to accumulate into; by default every leaf on the tape that
   * requires a gradient. The paper's generator trains its encoder and
   * decoder from different losses over one forward pass.
   */
  into?: Tensor[];
}

/**
 * Backpropagates `loss` into the `grad` of leaves that require a gradient
 * (parameters), adding to gradients already there this step.
 */
export function backward(loss: Tensor, opts: BackwardOptions = {}): void {
  if (loss.size !== 1 && !opts.seed) {
    throw new Error(
      `Cannot run backward from a tensor of shape [${loss.shape}]: give a seed gradient`,
    );
  }
  let leaves: Set<Tensor>;
  if (opts.into) {
    leaves = new Set(opts.into.filter((t) => t.requiresGrad && !t.hasNode));
  } else {
    leaves = new Set();
    for (const node of tape) {
      for (const t of node.inputs) if (t.requiresGrad && !t.hasNode) leaves.add(t);
    }
  }
  run(loss, new GradContext(wantedSet(leaves), true), new Set(), opts.seed);
}

/**
 * The gradients of `loss` with respect to `targets` (any tensors on the tape,
 * inputs included), as new tensors in the current scope; leaves' `grad` is
 * left untouched. A target that `loss` does not depend on gets zeros.
 */
export function grad(loss: Tensor, targets: Tensor[], seed?: Tensor): Tensor[] {
  if (loss.size !== 1 && !seed) {
    throw new Error(
      `Cannot take gradients of a tensor of shape [${loss.shape}]: give a seed gradient`,
    );
  }
  const ctx = new GradContext(wantedSet(targets), false);
  const keepers = new Set(targets);
  run(loss, ctx, keepers, seed);
  return targets.map((t) => ctx.grads.get(t) ?? Tensor.zeros(t.backend, t.shape));
}

/** Number of nodes on the tape (for tests and diagnostics). */
export function tapeLength(): number {
  return tape.length;
}

/** Writes (or adds) `g` into a gradient slot unchanged: the backward of identity-like ops. */
export function passGradient(slot: GradSlot, g: Storage, n: number): void {
  const be = g.backend;
  if (slot.acc) be.axpby(slot.g, 1, g, 1, n);
  else be.copy(slot.g, g);
}
