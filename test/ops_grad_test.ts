/**
 * Every differentiable op against central finite differences in float64 (the
 * f64 build of the native kernels runs the same code as the f32 one), on the
 * cases of op_cases.ts.
 */
import { f64, gradCheck } from "./gradcheck.ts";
import { OP_GROUPS } from "./op_cases.ts";

const be = await f64();

for (const group of OP_GROUPS) {
  Deno.test(group.name, () => {
    group.run((name, inputs, f, opts) => gradCheck(be, name, inputs, f, opts));
  });
}
