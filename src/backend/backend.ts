/**
 * The backend: memory and kernels of one device, nothing else. Everything
 * above `src/backend/` (tensors, autodiff, layers, methods) goes through it
 * and never asks which device it has.
 *
 * Both native libraries export the kernels of `native/advssl.h` under the
 * same names and signatures (host pointers in one, device pointers in the
 * other), so one abstract class serves both: its kernel methods come from
 * the bindings generated from the header (abi.ts, one method per kernel);
 * this class adds memory, allocated by the library and cached here by exact
 * size, so a training step reuses the previous step's blocks instead of
 * asking the system (or cudaMalloc) again. cpu.ts and cuda.ts say how numbers
 * cross to and from the host.
 *
 * Shapes are checked by the ops before they get here; the native side checks
 * its arguments again and every failed status becomes an error naming the
 * kernel.
 * @module
 */
import { type CheckedKernel, type KernelName, Kernels, sharedSymbols } from "./abi.ts";
import type { Precision } from "./library.ts";

export { Activation, type ActivationKind, BinaryOp, type BinaryOpKind } from "./abi.ts";

/** A block of backend memory holding `size` numbers (float32 or float64). */
export interface Storage {
  /** Address of the first element (host or device memory). */
  readonly ptr: Deno.PointerObject;
  /** Number of elements. */
  readonly size: number;
  /** The backend that owns the memory. */
  readonly backend: Backend;
}

/** A typed array of the backend's precision. */
export type Numbers = Float32Array | Float64Array;

/** A library opened by Deno.dlopen with at least the symbols both libraries export. */
export type NativeLibrary = Deno.DynamicLibrary<ReturnType<typeof sharedSymbols<Precision>>>;

/** Any library of ours: each records its last failure for adv_last_error(). */
export interface ErrorSource {
  readonly symbols: { adv_last_error(): Deno.PointerValue };
}

/** A native function by name that throws, naming the kernel, when it returns a failed status. */
export function checked(lib: ErrorSource, name: string): CheckedKernel {
  const fn = (lib.symbols as unknown as Record<string, (...args: unknown[]) => number>)[name];
  const op = name.replace(/^adv_/, "");
  return (...args: unknown[]) => {
    if (fn(...args) !== 0) throw new Error(`Cannot run native kernel ${op}: ${lastError(lib)}`);
  };
}

/** The named functions of a library, each checked. */
export function checkedAll<N extends string>(
  lib: ErrorSource,
  names: readonly N[],
): Readonly<Record<N, CheckedKernel>> {
  return Object.fromEntries(names.map((n) => [n, checked(lib, n)])) as Record<N, CheckedKernel>;
}

/** The message of the library's last failure. */
export function lastError(lib: ErrorSource): string {
  const p = lib.symbols.adv_last_error();
  return p ? Deno.UnsafePointerView.getCString(p) : "unknown error";
}

class NativeStorage implements Storage {
  constructor(
    readonly ptr: Deno.PointerObject,
    readonly size: number,
    readonly backend: Backend,
  ) {}
}

/**
 * Memory and kernels of one device. Kernel methods (from Kernels) take
 * `accumulate` flags that choose between writing a result and adding it to
 * what the output holds, so gradients from several consumers accumulate
 * without temporaries.
 */
export abstract class Backend extends Kernels {
  /** "cpu" or "cuda". */
  abstract readonly name: "cpu" | "cuda";
  /** Bytes per number. */
  protected readonly bytes: number;
  protected readonly k: Readonly<Record<KernelName, CheckedKernel>>;
  readonly #fill: CheckedKernel;
  readonly #copy: CheckedKernel;
  readonly #threads: CheckedKernel;
  #compute: ComputePrecision = "fp32";
  readonly #cache = new Map<number, Deno.PointerObject[]>();
  #live = 0;
  #cached = 0;

  /**
   * @param precision of every storage of this backend
   * @param kernels the kernels the library exports
   */
  constructor(
    readonly precision: Precision,
    protected readonly lib: NativeLibrary,
    path: string,
    kernels: readonly KernelName[],
  ) {
    super();
    this.bytes = lib.symbols.adv_real_size();
    const expected = precision === "f32" ? 4 : 8;
    if (this.bytes !== expected) {
      throw new Error(`Cannot use ${path}: it holds ${this.bytes}-byte reals, not ${expected}`);
    }
    this.k = checkedAll(lib, kernels);
    this.#fill = checked(lib, "adv_fill");
    this.#copy = checked(lib, "adv_copy");
    this.#threads = checked(lib, "adv_set_num_threads");
  }

  /** Copies host numbers into `s` from element `offset`. */
  abstract write(s: Storage, data: ArrayLike<number>, offset?: number): void;
  /** Copies `s` to a new host array. */
  abstract read(s: Storage): Numbers;
  /** Waits until every queued kernel has finished (a no-op where kernels run synchronously). */
  abstract synchronize(): void;

  /** A new storage of `size` elements, contents undefined. */
  alloc(size: number): Storage {
    if (!Number.isInteger(size) || size <= 0) throw new Error(`Cannot allocate ${size} elements`);
    const bytes = size * this.bytes;
    let ptr = this.#cache.get(size)?.pop();
    if (ptr) {
      this.#cached -= bytes;
    } else {
      ptr = this.#allocate(bytes);
      if (!ptr) {
        this.trim();
        ptr = this.#allocate(bytes);
        if (!ptr) {
          throw new Error(
            `Cannot allocate ${bytes} bytes on the ${this.name} backend: ${lastError(this.lib)}`,
          );
        }
      }
    }
    this.#live += bytes;
    return new NativeStorage(ptr, size, this);
  }

  #allocate(bytes: number): Deno.PointerObject | undefined {
    return this.lib.symbols.adv_alloc(BigInt(bytes)) ?? undefined;
  }

  /** Returns a storage from `alloc` to the backend (it is cached for reuse). */
  free(s: Storage): void {
    const bytes = s.size * this.bytes;
    this.#live -= bytes;
    this.#cached += bytes;
    const list = this.#cache.get(s.size);
    if (list) list.push(s.ptr);
    else this.#cache.set(s.size, [s.ptr]);
  }

  /** A storage that aliases `size` elements of `s` from element `offset`; never freed. */
  view(s: Storage, offset: number, size: number): Storage {
    if (!Number.isInteger(offset) || offset < 0 || size <= 0 || offset + size > s.size) {
      throw new Error(
        `Cannot view [${offset}, ${offset + size}) of a storage of ${s.size} elements`,
      );
    }
    return new NativeStorage(this.pointerAt(s, offset), size, this);
  }

  /** The address of element `offset` of a storage. */
  protected pointerAt(s: Storage, offset: number): Deno.PointerObject {
    return offset === 0 ? s.ptr : Deno.UnsafePointer.offset(s.ptr, offset * this.bytes)!;
  }

  /** The addresses of storages as int64, for kernels that take a table of tensors (Adam). */
  addresses(storages: Storage[]): BigInt64Array {
    return BigInt64Array.from(storages, (s) => BigInt(Deno.UnsafePointer.value(s.ptr)));
  }

  /** Bytes handed out by `alloc` and not yet freed. */
  liveBytes(): number {
    return this.#live;
  }

  /** Bytes held in the cache for reuse, beyond the live ones. */
  cachedBytes(): number {
    return this.#cached;
  }

  /** Releases cached memory to the system. */
  trim(): void {
    for (const list of this.#cache.values()) for (const p of list) this.lib.symbols.adv_free(p);
    this.#cache.clear();
    this.#cached = 0;
  }

  /** Sets every element of `s` to `value`. */
  fill(s: Storage, value: number): void {
    this.#fill(s.ptr, s.size, value);
  }

  /** Copies `src` into `dst` (the same size). */
  copy(dst: Storage, src: Storage): void {
    if (dst.size !== src.size) throw new Error(`Cannot copy ${src.size} elements into ${dst.size}`);
    this.#copy(dst.ptr, src.ptr, src.size);
  }

  /** Sets the threads the kernels use. */
  setThreads(n: number): void {
    this.#threads(n);
  }

  /** The threads the kernels use. */
  threads(): number {
    return this.lib.symbols.adv_get_num_threads();
  }

  /** The processor or GPU the kernels run on, by its model name (for run summaries). */
  abstract machine(): string;

  /** The precision convolutions and GEMMs compute in (storages stay as they are). */
  get computePrecision(): ComputePrecision {
    return this.#compute;
  }

  /**
   * Sets the precision of convolutions and GEMMs: "bf16" reads their inputs
   * in bfloat16, accumulates and writes in float32. Throws where the library
   * or the processor has no bf16 kernels, with the library's reason.
   */
  setComputePrecision(p: ComputePrecision): void {
    if (this.lib.symbols.adv_set_precision(p === "bf16" ? 1 : 0) !== 0) {
      throw new PrecisionError(p, lastError(this.lib).replace(/^set_precision: /, ""));
    }
    this.#compute = p;
  }

  /** `fn` with convolutions and GEMMs in precision `p`, the previous precision restored after. */
  withComputePrecision<T>(p: ComputePrecision, fn: () => T): T {
    const before = this.#compute;
    if (p === before) return fn();
    this.setComputePrecision(p);
    try {
      return fn();
    } finally {
      this.setComputePrecision(before);
    }
  }

  /** oneDNN's name for the processor's instruction set, or null where the library has no oneDNN. */
  cpuIsa(): string | null {
    const code = this.lib.symbols.adv_onednn_isa();
    return code === 0 ? null : (ONEDNN_ISA[code] ?? `oneDNN ISA ${code.toString(16)}`);
  }
}

/** What convolutions and GEMMs compute in: float32, or bfloat16 inputs with float32 sums. */
export type ComputePrecision = "fp32" | "bf16";

/** A library or processor without the kernels of a precision; `reason` says which. */
export class PrecisionError extends Error {
  constructor(readonly precision: ComputePrecision, readonly reason: string) {
    super(`Cannot compute in ${precision}: ${reason}`);
  }
}

/** oneDNN's dnnl_cpu_isa_t codes (dnnl_types.h) and the names it prints. */
const ONEDNN_ISA: Record<number, string> = {
  0x1: "sse41",
  0x3: "avx",
  0x7: "avx2",
  0xf: "avx512_mic",
  0x1f: "avx512_mic_4ops",
  0x27: "avx512_core",
  0x67: "avx512_core_vnni",
  0xe7: "avx512_core_bf16 (AVX-512-BF16)",
  0x3e7: "avx512_core_amx (AMX-BF16)",
  0x407: "avx2_vnni",
};
