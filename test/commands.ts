/** Runs the tool's commands in a subprocess, as a user would, for the end-to-end tests. */

/** What a command printed and its exit code. */
export interface CommandResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `deno run --allow-all src/cli/<script> args...`. */
export async function runCli(script: string, ...args: string[]): Promise<CommandResult> {
  const path = new URL(`../src/cli/${script}`, import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

/** `deno task train args...`. */
export const train = (...args: string[]): Promise<CommandResult> => runCli("main.ts", ...args);
