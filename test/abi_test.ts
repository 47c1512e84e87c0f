/**
 * The TypeScript bindings against the C header: every kernel that
 * native/advssl.h declares is bound with the parameter codes its C
 * parameters need (a wrong code passes garbage without any error), and the
 * CUDA library, where this machine could build it, exports every shared
 * kernel and says plainly when there is no GPU to run it.
 */
import assert from "node:assert/strict";
import { CPU_ONLY_SIGNATURES, SIGNATURES } from "../src/backend/native.ts";
import { buildCudaLibrary, cudaLibraryPath } from "../build.ts";
import { createCudaBackend, CudaUnavailableError, hasNvidiaGpu } from "../src/backend/cuda.ts";

const header = Deno.readTextFileSync(new URL("../native/advssl.h", import.meta.url));

/** The parameter code of one C parameter declaration, as in native.ts. */
function code(param: string): string {
  const type = param.replace(/\b\w+$/, "").replace(/\s+/g, " ").trim();
  if (/^(const )?(real|void) \*$/.test(type)) return "p";
  if (/^(const )?(int|int64_t) \*$/.test(type)) return "b";
  if (type === "real") return "r";
  if (type === "int") return "i";
  if (type === "uint64_t") return "u";
  return `?${type}`;
}

/** Status-returning kernels of the header with their codes. */
function declaredKernels(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of header.matchAll(/ADV_EXPORT int (adv_\w+)\(([^)]*)\);/g)) {
    const params = m[2].trim() === "void" ? [] : m[2].split(",").map((p) => p.trim());
    out.set(m[1], params.map(code).join(""));
  }
  return out;
}

// Bound elsewhere: the data helpers (uint8 inputs) in src/data/native.ts, the
// runtime queries in cpu.ts and cuda.ts.
const BOUND_ELSEWHERE = [
  "adv_bytes_to_real",
  "adv_bytes_colmajor_to_nchw",
  "adv_gather_augment",
  "adv_real_size",
  "adv_get_num_threads",
];

Deno.test("abi: every kernel of advssl.h is bound with the codes of its C parameters", () => {
  const declared = declaredKernels();
  const bound: Record<string, string> = { ...SIGNATURES, ...CPU_ONLY_SIGNATURES };
  assert(declared.size > 40, `parsed only ${declared.size} kernels from advssl.h`);
  for (const [name, codes] of declared) {
    if (BOUND_ELSEWHERE.includes(name)) continue;
    assert.equal(bound[name], codes, `${name}: bound as ${bound[name]}, declared ${codes}`);
  }
  for (const name of Object.keys(bound)) assert(declared.has(name), `${name} is not in advssl.h`);
});

Deno.test({
  name: "abi: the CUDA library exports every shared kernel; without a GPU it says so",
  async fn(t) {
    const built = await buildCudaLibrary();
    if (built.status === "skipped") {
      t.step({ name: `skipped: ${built.reason}`, ignore: true, fn() {} });
      return;
    }
    // dlopen fails naming the first symbol the library lacks.
    const probe = Object.fromEntries(
      Object.keys(SIGNATURES).map((n) => [n, { parameters: [], result: "void" } as const]),
    );
    Deno.dlopen(cudaLibraryPath(), probe).close();
    if (hasNvidiaGpu()) return; // cuda_parity_test covers a machine with a GPU
    await assert.rejects(createCudaBackend(), (e) => {
      assert(e instanceof CudaUnavailableError);
      assert.match(e.message, /^no GPU found/);
      return true;
    });
  },
});
