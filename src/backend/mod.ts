/**
 * Choosing a backend: `cpu`, `cuda`, or `auto` (CUDA where this machine has
 * an NVIDIA GPU and the CUDA library runs, else the CPU).
 * @module
 */
import type { Backend } from "./backend.ts";
import { createCpuBackend } from "./cpu.ts";
import { createCudaBackend, CudaUnavailableError, hasNvidiaGpu } from "./cuda.ts";
import { UserError } from "../util/errors.ts";

/** Which backend to open. */
export type BackendKind = "cpu" | "cuda" | "auto";

/**
 * Opens the float32 backend of a kind; `threads` > 0 sets the CPU's thread
 * count, `tf32` allows TF32 tensor-core math on the GPU. `cuda` where it
 * cannot run is a UserError saying why; `auto` then says why on stderr and
 * uses the CPU.
 */
export async function openBackend(
  kind: BackendKind,
  { threads = 0, tf32 = true }: { threads?: number; tf32?: boolean } = {},
): Promise<Backend> {
  if (kind === "cuda" || (kind === "auto" && hasNvidiaGpu())) {
    try {
      const cuda = await createCudaBackend();
      cuda.setTf32(tf32);
      return cuda;
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
  return be;
}
