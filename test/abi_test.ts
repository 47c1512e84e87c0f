/**
 * The native ABI is written once, in the C headers: the TypeScript bindings
 * (src/backend/abi.ts) are generated from them and must be up to date, the
 * generator must read every declaration, each library must export exactly
 * what its tables bind, and the CUDA library, where this machine could build
 * it, must say plainly when there is no GPU to run it.
 */
import assert from "node:assert/strict";
import { cpuSymbols, cudaSymbols, SHARED_KERNELS, sharedSymbols } from "../src/backend/abi.ts";
import {
  ABI_FILE,
  ABI_HEADERS,
  generatedAbi,
  parseHeader,
  readHeaders,
} from "../src/backend/abi_gen.ts";
import { createCudaBackend, CudaUnavailableError, hasNvidiaGpu } from "../src/backend/cuda.ts";
import { cpuLibraryPath, ensureLibrary, libraryPath, ROOT } from "../src/backend/library.ts";

Deno.test("abi: src/backend/abi.ts is what the headers generate (run deno task build-native)", async () => {
  const committed = await Deno.readTextFile(`${ROOT}${ABI_FILE}`);
  assert(committed === await generatedAbi(), `${ABI_FILE} is stale: run deno task build-native`);
});

Deno.test("abi: the generator reads every exported declaration of the headers", () => {
  for (const [path, text] of Object.entries(readHeaders())) {
    const exported = [...text.matchAll(/^ADV_(RUNTIME|KERNEL|CPU_KERNEL|HOST_KERNEL)\b/gm)].length;
    const { decls } = parseHeader(text, path);
    assert.equal(decls.length, exported, `${path}: parsed ${decls.length} of ${exported}`);
  }
  assert(SHARED_KERNELS.length > 35, `only ${SHARED_KERNELS.length} shared kernels`);
});

/** The adv_* functions a shared library defines and exports (binutils' nm reads them). */
async function exported(lib: string): Promise<string[]> {
  let r;
  try {
    r = await new Deno.Command("nm", { args: ["-D", "--defined-only", lib] }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("Cannot list exports: install binutils (nm)");
    }
    throw e;
  }
  assert(r.success, `nm failed on ${lib}`);
  return new TextDecoder().decode(r.stdout).split("\n")
    .map((l) => l.trim().split(/\s+/).pop() ?? "").filter((s) => s.startsWith("adv_")).sort();
}

Deno.test("abi: the CPU libraries export exactly the functions of their symbol tables", async () => {
  for (const p of ["f32", "f64"] as const) {
    await ensureLibrary(`cpu-${p}`);
    const bound = Object.keys({ ...sharedSymbols(p), ...cpuSymbols(p) }).sort();
    assert.deepEqual(await exported(cpuLibraryPath(p)), bound, `cpu ${p}`);
  }
});

Deno.test({
  name: "abi: the CUDA library exports exactly its tables' functions; without a GPU it says so",
  async fn(t) {
    const built = await ensureLibrary("cuda");
    if (built.skipped) {
      t.step({ name: `skipped: ${built.skipped}`, ignore: true, fn() {} });
      return;
    }
    const bound = Object.keys({ ...sharedSymbols("f32"), ...cudaSymbols() }).sort();
    assert.deepEqual(await exported(libraryPath("cuda")), bound, ABI_HEADERS.join(" + "));
    if (hasNvidiaGpu()) return; // cuda_parity_test covers a machine with a GPU
    await assert.rejects(createCudaBackend(), (e) => {
      assert(e instanceof CudaUnavailableError);
      assert.match(e.message, /^no GPU found/);
      return true;
    });
  },
});
