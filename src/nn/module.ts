/**
 * The Module base: a tree of layers owning named parameters (leaf tensors
 * that want gradients) and buffers (state such as running statistics).
 * Parameters and buffers are persistent: they belong to no scope.
 * @module
 */
import { persistent, Tensor } from "../autograd/tensor.ts";
import type { Rng } from "../ops/random.ts";

/** A layer or a network of layers. */
export abstract class Module {
  /** Training mode (batch statistics, dropout) or evaluation mode. */
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();
  readonly #rngs = new Map<string, Rng>();

  abstract forward(x: Tensor): Tensor;

  /** Registers a parameter made by `make` (run outside every scope). */
  protected addParameter(name: string, make: () => Tensor): Tensor {
    const t = persistent(make);
    t.requiresGrad = true;
    t.name = name;
    this.#params.set(name, t);
    return t;
  }

  /** Registers a buffer: state saved with the model but not trained. */
  protected addBuffer(name: string, make: () => Tensor): Tensor {
    const t = persistent(make);
    t.name = name;
    this.#buffers.set(name, t);
    return t;
  }

  /**
   * Registers a random stream the module draws from in training (dropout's,
   * noise's), so checkpoints save it with the weights and a resumed run draws
   * what an uninterrupted one would.
   */
  protected addRng(name: string, rng: Rng): Rng {
    this.#rngs.set(name, rng);
    return rng;
  }

  /** Random streams of this module and its children, with dotted names. */
  namedRngs(prefix = ""): [string, Rng][] {
    const out: [string, Rng][] = [...this.#rngs].map(([n, r]) => [prefix + n, r]);
    for (const [n, c] of this.#children) out.push(...c.namedRngs(`${prefix}${n}.`));
    return out;
  }

  /** Registers a child module. */
  protected addChild<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Parameters of this module and its children, with dotted names. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.#params].map(([n, t]) => [prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Buffers of this module and its children, with dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.#buffers].map(([n, t]) => [prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** This module and every module below it. */
  *modules(): IterableIterator<Module> {
    yield this;
    for (const c of this.#children.values()) yield* c.modules();
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Sets training (true) or evaluation (false) mode on the whole tree. */
  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees parameters, gradients and buffers. */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
