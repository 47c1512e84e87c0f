/**
 * The sanitizer build is live: run with the libraries CI builds with
 * `--sanitize` (see .ci/run), an out-of-bounds read in a kernel is caught.
 * Elsewhere (the normal libraries) this test is skipped.
 */
import assert from "node:assert/strict";
import { cpuLibraryPath } from "../src/backend/library.ts";
import { runScript } from "./commands.ts";

const sanitized = (() => {
  try {
    const lib = new TextDecoder().decode(Deno.readFileSync(cpuLibraryPath("f32")));
    return lib.includes("__asan_report") && (Deno.env.get("LD_PRELOAD") ?? "").includes("asan");
  } catch {
    return false;
  }
})();

Deno.test({
  name: "sanitizer: an out-of-bounds read in a kernel is reported by AddressSanitizer",
  ignore: !sanitized,
  fn: async () => {
    const r = await runScript("test/fixtures/overflow_canary.ts");
    assert.notEqual(r.code, 0, "the canary's overflow went unnoticed");
    assert.match(r.err, /AddressSanitizer: heap-buffer-overflow/);
    assert.doesNotMatch(r.out, /no report/);
  },
});
