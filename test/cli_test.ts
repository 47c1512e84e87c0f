import assert from "node:assert/strict";

const main = new URL("../src/main.ts", import.meta.url).pathname;

async function train(...args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

Deno.test("train: a bad flag or value is one line on stderr and exit code 2", async () => {
  for (
    const args of [["--no-such-flag"], ["--iterations", "ten"], ["--method", "magic"], [
      "--noise",
      "-1",
    ]]
  ) {
    const r = await train(...args);
    assert.equal(r.code, 2, `${args}: exit code ${r.code}`);
    assert.match(r.err.split("\n")[0], /^error: /);
  }
});

Deno.test("train: a short VAT run on two circles finishes and reports a test error", async () => {
  const r = await train("--iterations", "50");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /two circles \(noise 0\.06\), vat: test error \d+\.\d+%/);
});
