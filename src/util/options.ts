/**
 * Options as data: what a value may be (its kind, range and help), how a
 * flag or a JSON value becomes one, and how one is written back. The command
 * line parser (src/cli/args.ts) and the run registry (src/registry/) both
 * describe their options with these specs, so every command reads and
 * reports values alike.
 * @module
 */
import { UserError } from "./errors.ts";

/** A value an option can hold. */
export type Value = number | boolean | string | number[] | null;

/** Where an option stands apart from the paper's own settings, for --help and the code. */
export type OptionGroup = "stabiliser" | "ablation";

interface SpecBase {
  help: string;
  /** A stabiliser or ablation we tried, listed apart from the paper's options. */
  group?: OptionGroup;
  /**
   * The value when the command line leaves the option out. Only the small
   * commands (reproduce, data, bench) use this: a training run's values come
   * from its preset alone.
   */
  default?: Value;
}

/** An integer in [min, max] (safe integers only). */
export interface IntSpec extends SpecBase {
  kind: "int";
  min?: number;
  max?: number;
  /** The word "all" is a value too (kept as the string "all": every sample there is). */
  all?: boolean;
}

/** A finite number in [min, max]. */
export interface NumberSpec extends SpecBase {
  kind: "number";
  min?: number;
  max?: number;
}

/** true or false: `--flag`, `--no-flag`, `--flag=true`. */
export interface BoolSpec extends SpecBase {
  kind: "bool";
}

/** A non-empty string (a path or a name); `nullable` allows null ("not set") in presets and files. */
export interface StringSpec extends SpecBase {
  kind: "string";
  nullable?: boolean;
  /** The word --help shows for the value (default VALUE). */
  metavar?: string;
}

/** A comma-separated list of integers >= min, as "100,50". */
export interface IntsSpec extends SpecBase {
  kind: "ints";
  min?: number;
}

/** One of a fixed set of names. */
export interface ChoiceSpec extends SpecBase {
  kind: "choice";
  choices: readonly string[];
}

/** Any option a command can take. */
export type OptionSpec = IntSpec | NumberSpec | BoolSpec | StringSpec | IntsSpec | ChoiceSpec;

/** The flag of an option key: batchSize -> --batch-size. */
export const flagOf = (key: string): string =>
  `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The option key of a flag's name (without dashes): batch-size -> batchSize. */
export const keyOf = (name: string): string =>
  name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function toNumber(raw: unknown): number {
  if (typeof raw === "number") return raw;
  if (typeof raw === "string" && raw.trim() !== "") return Number(raw);
  return NaN;
}

function range(spec: { min?: number; max?: number }): string {
  if (spec.min !== undefined && spec.max !== undefined) return `in [${spec.min}, ${spec.max}]`;
  if (spec.min !== undefined) return `>= ${spec.min}`;
  return `<= ${spec.max}`;
}

/**
 * Checks and converts one value, from a flag (a string) or a JSON file (any
 * JSON value); `where` names the flag or the file's key for the message.
 */
export function convert(spec: OptionSpec, raw: unknown, where: string): Value {
  const bad = (why: string) => new UserError(`Cannot use ${where}: ${why}`);
  switch (spec.kind) {
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "false") return raw === "true";
      throw bad(`expected true or false, got '${raw}'`);
    case "string":
      if (raw === null && spec.nullable) return null;
      if (typeof raw !== "string") throw bad(`expected a string, got ${JSON.stringify(raw)}`);
      if (raw.trim() === "") throw bad("expected a non-empty value");
      return raw;
    case "choice":
      if (typeof raw !== "string" || !spec.choices.includes(raw)) {
        throw bad(`expected one of ${spec.choices.join(", ")}, got '${raw}'`);
      }
      return raw;
    case "ints": {
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === "string" && raw.trim() !== ""
        ? raw.split(",")
        : null;
      const list = items?.map(toNumber);
      if (!list?.length || list.some((n) => !Number.isSafeInteger(n))) {
        throw bad(`expected a comma-separated list of integers, got '${raw}'`);
      }
      const low = list.find((n) => spec.min !== undefined && n < spec.min);
      if (low !== undefined) throw bad(`${low} is out of range (expected ${range(spec)})`);
      return list;
    }
    case "int":
    case "number": {
      if (spec.kind === "int" && spec.all && raw === "all") return "all";
      const n = toNumber(raw);
      if (spec.kind === "int" ? !Number.isSafeInteger(n) : !Number.isFinite(n)) {
        throw bad(`expected ${spec.kind === "int" ? "an integer" : "a number"}, got '${raw}'`);
      }
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw bad(`${n} is out of range (expected ${range(spec)})`);
      }
      return n;
    }
  }
}

/** A value as --help and the tables print it (the inverse of convert for flags). */
export function formatValue(v: Value | undefined): string {
  if (v === undefined || v === null) return "-";
  if (Array.isArray(v)) return v.join(",");
  return String(v);
}

/** The word --help shows after a flag that takes a value ("" for a boolean). */
export function metavar(spec: OptionSpec): string {
  switch (spec.kind) {
    case "bool":
      return "";
    case "choice":
      return spec.choices.join("|");
    case "string":
      return spec.metavar ?? "VALUE";
    case "ints":
      return "N,N";
    case "int":
      return spec.all ? "N|all" : "N";
    default:
      return "N";
  }
}
