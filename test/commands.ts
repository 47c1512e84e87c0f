/** Runs the tool's commands in a subprocess, as a user would, for the end-to-end tests. */

/** What a command printed and its exit code. */
export interface CommandResult {
  code: number;
  out: string;
  err: string;
}

const text = new TextDecoder();

/** Runs `deno run --allow-all <script> args...` (a path relative to the repository's root). */
export async function runScript(script: string, ...args: string[]): Promise<CommandResult> {
  const path = new URL(`../${script}`, import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

/** Runs `deno run --allow-all src/cli/<script> args...`. */
export const runCli = (script: string, ...args: string[]): Promise<CommandResult> =>
  runScript(`src/cli/${script}`, ...args);

/** `deno task train args...`. */
export const train = (...args: string[]): Promise<CommandResult> => runCli("main.ts", ...args);

/** `deno task train args...` in a shell that first runs `prelude` (limits: `ulimit -f 64`). */
export async function trainUnder(prelude: string, ...args: string[]): Promise<CommandResult> {
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const quoted = [Deno.execPath(), "run", "--allow-all", main, ...args]
    .map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const r = await new Deno.Command("bash", {
    args: ["-c", `${prelude}; exec ${quoted}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

/**
 * Starts `deno task train args...` and resolves once its output shows
 * `pattern` (training has started); the caller kills or awaits it.
 */
export async function startTrain(
  pattern: RegExp,
  ...args: string[]
): Promise<{ child: Deno.ChildProcess; output: string }> {
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, ...args],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let output = "";
  while (!pattern.test(output)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`train ended before printing ${pattern}: ${output}`);
    output += text.decode(value);
  }
  // Keep draining, so the child never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* the child was killed */ }
  })();
  return { child, output };
}

/** True when a one-line error came out: no stack trace, exactly one line on stderr. */
export function oneLine(r: CommandResult): boolean {
  const lines = r.err.trim().split("\n").filter((l) => l.trim());
  return lines.length === 1 && lines[0].startsWith("error: ") && !/\n\s+at /.test(r.err);
}
