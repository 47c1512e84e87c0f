/**
 * Tensors: a shape over a backend storage, plus what autodiff needs (whether
 * a gradient is wanted, the node that produced it, a leaf's gradient).
 *
 * Lifetimes are explicit. A tensor created inside {@linkcode scope} is freed
 * when the scope ends unless {@linkcode keep} moves it out; one created
 * outside every scope (parameters, optimiser state) lives until disposed.
 * @module
 */
import type { Backend, Numbers, Storage } from "../backend/backend.ts";

/** A float tensor (float32, or float64 on a float64 backend). */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: Backend;
  #storage: Storage | null;
  /** False for views: their memory belongs to another tensor. */
  readonly #owned: boolean;
  /** Whether gradients flow to this tensor (set on parameters, inputs, and op outputs). */
  requiresGrad = false;
  /** True for tensors produced by a recorded op; false for leaves. */
  hasNode = false;
  /** A leaf's accumulated gradient (parameters); persistent. */
  grad: Tensor | null = null;
  /** Whether `grad` holds a gradient of the current step (cleared by zeroGrad). */
  gradReady = false;
  /** A name for error messages and checkpoints. */
  name?: string;

  constructor(backend: Backend, storage: Storage, shape: readonly number[], owned = true) {
    const size = shapeSize(shape);
    if (size !== storage.size) {
      throw new Error(`Cannot make a tensor of shape [${shape}] over ${storage.size} elements`);
    }
    this.backend = backend;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = size;
    this.#owned = owned;
    track(this);
  }

  /** A new tensor of `shape`, contents undefined. */
  static empty(backend: Backend, shape: readonly number[]): Tensor {
    return new Tensor(backend, backend.alloc(shapeSize(shape)), shape);
  }

  /** A new tensor filled with `value`. */
  static full(backend: Backend, shape: readonly number[], value: number): Tensor {
    const t = Tensor.empty(backend, shape);
    backend.fill(t.storage, value);
    return t;
  }

  static zeros(backend: Backend, shape: readonly number[]): Tensor {
    return Tensor.full(backend, shape, 0);
  }

  /** A tensor holding a copy of host numbers. */
  static from(backend: Backend, data: ArrayLike<number>, shape: readonly number[]): Tensor {
    if (data.length !== shapeSize(shape)) {
      throw new Error(`Cannot make a tensor of shape [${shape}] from ${data.length} numbers`);
    }
    const t = Tensor.empty(backend, shape);
    backend.write(t.storage, data);
    return t;
  }

  /** The memory; throws once the tensor was freed. */
  get storage(): Storage {
    if (!this.#storage) {
      throw new Error(
        `Cannot use tensor${
          this.name ? ` '${this.name}'` : ""
        } [${this.shape}]: it was freed (its scope ended)`,
      );
    }
    return this.#storage;
  }

  get disposed(): boolean {
    return this.#storage === null;
  }

  /** A tensor over the same memory with another shape, without gradient tracking. */
  view(shape: readonly number[]): Tensor {
    return new Tensor(this.backend, this.storage, shape, false);
  }

  /** Frees the memory now (a no-op for views and freed tensors). */
  dispose(): void {
    if (!this.#storage) return;
    untrack(this);
    if (this.#owned) this.backend.free(this.#storage);
    this.#storage = null;
  }

  /** A host copy of the contents. */
  toArray(): Numbers {
    return this.backend.read(this.storage);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`Cannot take item() of a tensor of shape [${this.shape}]`);
    return this.toArray()[0];
  }
}

/** Number of elements of a shape; throws on a non-positive or fractional dimension. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) {
      throw new Error(`Cannot use shape [${shape}]: dimensions must be positive integers`);
    }
    n *= d;
  }
  return n;
}

// ---- scopes ----

const scopes: Set<Tensor>[] = [];
const scopeStartHooks: ((depth: number) => void)[] = [];
const scopeEndHooks: ((depth: number) => void)[] = [];

function track(t: Tensor): void {
  scopes.at(-1)?.add(t);
}

function untrack(t: Tensor): void {
  scopes.at(-1)?.delete(t) || scopes.some((s) => s.delete(t));
}

/** Registers functions called with the depth of every scope that starts and ends (the tape uses them). */
export function onScope(start: (depth: number) => void, end: (depth: number) => void): void {
  scopeStartHooks.push(start);
  scopeEndHooks.push(end);
}

/** The number of open scopes. */
export function scopeDepth(): number {
  return scopes.length;
}

/**
 * Runs `fn`, then frees every tensor created inside it that was not passed to
 * {@linkcode keep}. Nested scopes free their own tensors first.
 */
export function scope<T>(fn: () => T): T {
  scopes.push(new Set());
  const depth = scopes.length;
  for (const hook of scopeStartHooks) hook(depth);
  try {
    return fn();
  } finally {
    for (const hook of scopeEndHooks) hook(depth);
    const owned = scopes.pop()!;
    for (const t of owned) t.dispose();
  }
}

/** Moves tensors out of the current scope into the enclosing one (or makes them persistent). */
export function keep<T extends Tensor | Tensor[]>(t: T): T {
  const list = Array.isArray(t) ? t : [t];
  const current = scopes.at(-1);
  for (const x of list) {
    if (current?.delete(x)) scopes.at(-2)?.add(x);
  }
  return t;
}

/** Runs `fn` with tensors it creates belonging to no scope (persistent state created mid-step). */
export function persistent<T>(fn: () => T): T {
  const saved = scopes.splice(0, scopes.length);
  try {
    return fn();
  } finally {
    scopes.push(...saved);
  }
}
