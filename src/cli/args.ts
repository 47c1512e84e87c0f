/**
 * The one argument parser of every command (train, reproduce, data, bench):
 * `--flag value`, `--flag=value`, `--bool` and `--no-bool`, each value
 * checked against its spec as it is read, and every mistake one line naming
 * the flag ("Cannot use --x: ..."). `runMain` turns those errors into exit
 * code 2 without a stack trace.
 * @module
 */
import { exitCodeOf, StoppedError, UserError } from "../util/errors.ts";
import { isFileSystemError } from "../util/fs.ts";
import { convert, flagOf, keyOf, metavar, type OptionSpec, type Value } from "../util/options.ts";

/** What a command line said. */
export interface Parsed {
  /** The options given, by key (camelCase), converted. */
  values: Record<string, Value>;
  /** The words that are not flags, in order. */
  positionals: string[];
  /** --help or -h was given. */
  help: boolean;
}

/** How many words that are not flags a command takes. */
export interface PositionalRule {
  min: number;
  max: number;
  /** What they are, for the message ("a data set name"). */
  what: string;
}

const NONE: PositionalRule = { min: 0, max: 0, what: "nothing" };

/**
 * Parses a command line against a table of options (keys camelCase, flags
 * kebab-case). Options left out are absent from `values` unless their spec
 * has a default.
 */
export function parseFlags(
  args: string[],
  table: Record<string, OptionSpec>,
  positional: PositionalRule = NONE,
): Parsed {
  const out: Parsed = { values: {}, positionals: [], help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") {
      out.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      if (positional.max === 0) {
        throw new UserError(`Cannot use '${arg}': expected a --flag (run with --help)`);
      }
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const name = flag.slice(2);
    const negated = name.startsWith("no-") && table[keyOf(name.slice(3))]?.kind === "bool";
    const key = keyOf(negated ? name.slice(3) : name);
    const spec = table[key];
    if (!spec || flagOf(key) !== `--${negated ? name.slice(3) : name}`) {
      throw new UserError(`Cannot use ${flag}: unknown flag (run with --help to list the flags)`);
    }
    if (key in out.values) {
      throw new UserError(`Cannot use ${flag}: it is given twice`);
    }
    if (spec.kind === "bool" && (inline === undefined || negated)) {
      if (inline !== undefined) throw new UserError(`Cannot use ${flag}: it takes no value`);
      out.values[key] = !negated;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      raw = args[++i];
      if (raw === undefined || raw.startsWith("--")) {
        throw new UserError(`Cannot use ${flag}: it needs a value`);
      }
    }
    out.values[key] = convert(spec, raw, flag);
  }
  const n = out.positionals.length;
  if (n < positional.min || n > positional.max) {
    throw new UserError(
      `Cannot run this command with ${n ? `'${out.positionals.join(" ")}'` : "nothing"}: ` +
        `expected ${positional.what} (run with --help)`,
    );
  }
  for (const [key, spec] of Object.entries(table)) {
    if (!(key in out.values) && spec.default !== undefined) out.values[key] = spec.default;
  }
  return out;
}

/** One --help line: the flag with its value word, then the text, in aligned columns. */
export type HelpRow = [flag: string, ...columns: string[]];

/** The --help row of an option: its flag and value word, then what it is. */
export function optionRow(key: string, spec: OptionSpec, indent = "  "): HelpRow {
  const word = metavar(spec);
  const def = spec.default === undefined ? "" : ` (default ${spec.default})`;
  return [`${indent}${flagOf(key)}${word ? ` ${word}` : ""}`, `${spec.help}${def}`];
}

/** Rows padded into columns two spaces apart; a row of one cell is a heading. */
export function formatRows(rows: HelpRow[]): string {
  const widths: number[] = [];
  for (const r of rows) {
    if (r.length < 2) continue;
    r.slice(0, -1).forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, c.length));
  }
  return rows.map((r) =>
    r.length < 2 ? r[0] : r.map((c, i) => i + 1 < r.length ? c.padEnd(widths[i] + 2) : c).join("")
  ).join("\n");
}

/** A command's --help text: a usage line, a paragraph, and its options. */
export function helpText(
  usage: string,
  about: string,
  table: Record<string, OptionSpec>,
  extra: HelpRow[] = [],
): string {
  const rows = [...Object.entries(table).map(([k, s]) => optionRow(k, s)), ...extra];
  rows.push(["  --help", "this text"]);
  return [`usage: ${usage}`, "", about, "", formatRows(rows)].join("\n");
}

/**
 * Runs a command's main function with Deno.args. The errors of
 * util/errors.ts print one line and exit with their code (a UserError 2, a
 * SetupError 1, a DivergedError 3); a failure of the file system that no
 * layer named (a full disk, a permission) prints one line and exits with 2;
 * anything else is a bug and keeps its stack. A number returned is the exit
 * code.
 */
export async function runMain(main: (args: string[]) => Promise<number | void>): Promise<void> {
  try {
    const code = await main(Deno.args);
    if (typeof code === "number" && code !== 0) Deno.exit(code);
  } catch (e) {
    const code = exitCodeOf(e) ?? (isFileSystemError(e) ? 2 : null);
    if (code === null) throw e;
    // A stop on a signal is what the user or the scheduler asked for: no "error:".
    console.error(e instanceof StoppedError ? e.message : `error: ${(e as Error).message}`);
    Deno.exit(code);
  }
}
