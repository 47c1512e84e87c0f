/**
 * Runs that move, and errors that suggest only flags their command accepts.
 * A run trained on generated SVHN files (test/fixtures/synthetic_train.ts)
 * is moved with its data to another folder; from there each command that
 * reads a run's data (eval, visualize, train --resume) fails with a one-line
 * error that names flags, and each flag it names is one the same command's
 * --help lists. With --data-dir or $ADVSSL_DATA_DIR they succeed. The same
 * walk covers train, reproduce and data on missing data, and the other
 * errors of eval and train --resume that name a flag.
 */
import assert from "node:assert/strict";
import { type CommandResult, runScript } from "./commands.ts";
import { writeSyntheticImageSets } from "./data_helpers.ts";

const synthetic = (...args: string[]) => runScript("test/fixtures/synthetic_train.ts", ...args);

/** Runs the fixture (or a src/cli script) with an environment and working folder of its own. */
async function command(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; script?: string } = {},
): Promise<CommandResult> {
  const path = new URL(`../${opts.script ?? "test/fixtures/synthetic_train.ts"}`, import.meta.url)
    .pathname;
  const env = { ...Deno.env.toObject(), ...opts.env };
  if (!opts.env?.ADVSSL_DATA_DIR) delete env.ADVSSL_DATA_DIR;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", path, ...args],
    cwd: opts.cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout), err: text.decode(r.stderr) };
}

/** The flags an error's suggestions name: every --flag in its lines, past quoted command lines. */
function suggestedFlags(err: string): string[] {
  // reproduce quotes each failed run's command line before "(exit N): "; what follows is the error.
  const said = err.trim().split("\n").map((l) =>
    l.includes("(exit ") ? l.slice(l.indexOf("): ") + 3) : l
  );
  return [...new Set(said.join("\n").match(/--[a-z][a-z-]*/g) ?? [])];
}

/**
 * Asserts a user error whose suggested flags `help` (a --help text) all
 * lists: one line, unless `listed` (reproduce lists each failed run above
 * the table's own error).
 */
function assertFlagsAccepted(
  r: CommandResult,
  help: string,
  what: string,
  wanted: string[],
  listed = false,
) {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.err}`);
  const lines = r.err.trim().split("\n");
  if (!listed) assert.equal(lines.length, 1, `${what}: not one line:\n${r.err}`);
  else assert(lines.slice(0, -1).every((l) => l.startsWith("failed: ")), r.err);
  const flags = suggestedFlags(r.err);
  for (const f of wanted) {
    assert(flags.includes(f), `${what}: the error does not name ${f}: ${r.err}`);
  }
  for (const f of flags) {
    assert(
      new RegExp(`^\\s*${f}\\b`, "m").test(help),
      `${what}: names ${f}, which it does not accept`,
    );
  }
}

Deno.test("moved runs: eval, visualize and --resume take --data-dir or ADVSSL_DATA_DIR, and their errors name only their own flags", async () => {
  const dir = await Deno.makeTempDir();
  await writeSyntheticImageSets(`${dir}/data`);
  const trained = await synthetic(
    ...["--preset", "svhn-supervised", "--labels", "20", "--data-dir", `${dir}/data`],
    ...["--model", "conv-small", "--widths", "8,16", "--batch-size", "4", "--iterations", "4"],
    ...["--checkpoint-interval", "2", "--eval-interval", "2", "--log-interval", "2"],
    ...["--bn-stats-batches", "2", "--stop-after", "2", "--out", `${dir}/runs/r`],
  );
  assert.equal(trained.code, 0, trained.err);
  // The saved folder is absolute; then the run and its data move, as to another machine.
  const saved = JSON.parse(Deno.readTextFileSync(`${dir}/runs/r/config.json`));
  assert.equal(saved.dataDir, `${dir}/data`);
  Deno.mkdirSync(`${dir}/elsewhere`);
  Deno.renameSync(`${dir}/runs`, `${dir}/elsewhere/runs`);
  Deno.renameSync(`${dir}/data`, `${dir}/elsewhere/data`);
  const cwd = `${dir}/elsewhere`;
  const cases = [
    { what: "eval", args: ["eval", "--checkpoint", "runs/r"] },
    { what: "visualize", args: ["visualize", "--checkpoint", "runs/r", "--eps", "2"] },
    { what: "train --resume", args: ["--resume", "runs/r"] },
  ];
  for (const { what, args } of cases) {
    const help = (await command([...args, "--help"], { cwd })).out;
    assertFlagsAccepted(await command(args, { cwd }), help, what, ["--data-dir"]);
    const moved = await command([...args, "--data-dir", "data"], { cwd });
    assert.equal(moved.code, 0, `${what} --data-dir: ${moved.err}`);
    const env = await command(args, { cwd, env: { ADVSSL_DATA_DIR: `${cwd}/data` } });
    assert.equal(env.code, 0, `${what} with ADVSSL_DATA_DIR: ${env.err}`);
  }
  // The resumed runs finished it: its data folder stays the one it was trained with.
  assert.equal(
    JSON.parse(Deno.readTextFileSync(`${cwd}/runs/r/config.json`)).dataDir,
    saved.dataDir,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("error flags: every command's errors that suggest a flag suggest one it accepts", async () => {
  const dir = await Deno.makeTempDir();
  const none = `${dir}/no-data`;
  const cases: {
    what: string;
    args: string[];
    help: string[];
    script?: string;
    wanted: string[];
    listed?: boolean;
  }[] = [
    {
      what: "train on missing data",
      args: ["--dataset", "svhn", "--no-download", "--data-dir", none],
      help: ["--dataset", "svhn", "--help"],
      wanted: ["--data-dir"],
    },
    {
      what: "reproduce on missing data",
      args: ["reproduce", "ssl", "--datasets", "svhn", "--seeds", "1", "--iterations-scale", "1e-4"]
        .concat(["--data-dir", none, "--out", `${dir}/table`, "--", "--no-download"]),
      help: ["reproduce", "--help"],
      wanted: ["--data-dir"],
      listed: true,
    },
    {
      what: "data verify on missing data",
      args: ["verify", "svhn", "--data-dir", none],
      help: ["--help"],
      script: "src/cli/data.ts",
      wanted: [], // its report lists what is missing, and suggests no flag
    },
    {
      what: "eval without a run",
      args: ["eval"],
      help: ["eval", "--help"],
      wanted: ["--checkpoint"],
    },
    {
      what: "train --resume with run options",
      args: ["--resume", `${dir}/r`, "--lr", "1"],
      help: ["--help"],
      wanted: ["--resume"],
    },
  ];
  for (const c of cases) {
    const opts = c.script ? { script: c.script } : {};
    const help = (await command(c.help, opts)).out;
    assert(help.length > 0, `${c.what}: no --help text`);
    assertFlagsAccepted(await command(c.args, opts), help, c.what, c.wanted, c.listed);
  }
  await Deno.remove(dir, { recursive: true });
});
