/**
 * Choosing a backend: `cpu`, `cuda`, or `auto` (CUDA where a GPU and the CUDA
 * library are present, else the CPU).
 * @module
 */
import type { Backend } from "./backend.ts";
import { createCpuBackend } from "./cpu.ts";
import { UserError } from "../util/errors.ts";

/** Which backend to open. */
export type BackendKind = "cpu" | "cuda" | "auto";

/** Opens the backend of a kind (float32); `threads` > 0 sets the CPU's thread count. */
export async function openBackend(kind: BackendKind, threads = 0): Promise<Backend> {
  if (kind === "cuda") {
    throw new UserError(
      "Cannot use --backend cuda: this build has no CUDA backend yet (use --backend cpu or auto)",
    );
  }
  const be = await createCpuBackend("f32");
  if (threads > 0) be.setThreads(threads);
  return be;
}
