/**
 * Choosing a backend: `cpu`, `cuda`, or `auto` (CUDA where this machine has
 * an NVIDIA GPU and the CUDA library runs, else the CPU).
 * @module
 */
import { type Backend, type ComputePrecision, PrecisionError } from "./backend.ts";
import { createCpuBackend } from "./cpu.ts";
import { createCudaBackend, CudaUnavailableError, hasNvidiaGpu } from "./cuda.ts";
import { UserError } from "../util/errors.ts";

/** Which backend to open. */
export type BackendKind = "cpu" | "cuda" | "auto";

/**
 * Opens the float32 backend of a kind; `threads` > 0 sets the CPU's thread
 * count, `tf32` allows TF32 tensor-core math on the GPU, `precision` is
 * what convolutions and GEMMs compute in (a UserError where it has no kernels). `cuda` where it
 * cannot run is a UserError saying why; `auto` then says why on stderr and
 * uses the CPU.
 */
export async function openBackend(
  kind: BackendKind,
  { threads = 0, tf32 = true, precision = "fp32" }: {
    threads?: number;
    tf32?: boolean;
    precision?: ComputePrecision;
  } = {},
): Promise<Backend> {
  const withPrecision = (be: Backend) => {
    try {
      be.setComputePrecision(precision);
    } catch (e) {
      if (!(e instanceof PrecisionError)) throw e;
      throw new UserError(`Cannot use --precision ${precision}: ${e.reason}`);
    }
    return be;
  };
  if (kind === "cuda" || (kind === "auto" && hasNvidiaGpu())) {
    try {
      const cuda = await createCudaBackend();
      cuda.setTf32(tf32);
      return withPrecision(cuda);
    } catch (e) {
      if (!(e instanceof CudaUnavailableError)) throw e;
      if (kind === "cuda") {
        throw new UserError(`Cannot use --backend cuda: ${e.message} (use --backend cpu or auto)`);
      }
      console.error(`--backend auto: the GPU is not usable (${e.message}); using the CPU`);
    }
  }
  const be = await createCpuBackend("f32");
  if (threads > 0) be.setThreads(threads);
  return withPrecision(be);
}
