/**
 * A resolved run configuration: the value of every option that applies to
 * the run, and nothing else (src/registry/resolve.ts makes one). Entries
 * read it through typed getters; asking for an option the run does not have
 * is a bug in an entry, not a user's mistake, so it throws a plain Error.
 * @module
 */
import { flagOf, type Value } from "../util/options.ts";

/** The options of one run, by key. */
export class RunConfig {
  constructor(
    /** The values, only those that apply to the run. */
    readonly values: Readonly<Record<string, Value>>,
    /** The preset the run started from. */
    readonly preset: string,
  ) {}

  #get<T>(key: string, what: string, is: (v: Value) => v is T & Value): T {
    if (!(key in this.values)) {
      throw new Error(`Cannot read ${flagOf(key)}: the run has no such option`);
    }
    const v = this.values[key];
    if (!is(v)) throw new Error(`Cannot read ${flagOf(key)} as ${what}: it holds ${v}`);
    return v;
  }

  /** Whether the run has an option. */
  has(key: string): boolean {
    return key in this.values;
  }

  number(key: string): number {
    return this.#get(key, "a number", (v): v is number => typeof v === "number");
  }

  /** A count that may be "all" (an int option with `all`): then `all`. */
  count(key: string, all: number): number {
    if (this.values[key] === "all") return all;
    return this.number(key);
  }

  bool(key: string): boolean {
    return this.#get(key, "a boolean", (v): v is boolean => typeof v === "boolean");
  }

  /** A string or the name chosen by a choice. */
  string(key: string): string {
    return this.#get(key, "a string", (v): v is string => typeof v === "string");
  }

  /** A nullable string (a path not set is null). */
  path(key: string): string | null {
    return this.#get(key, "a path", (v): v is string | null => v === null || typeof v === "string");
  }

  ints(key: string): number[] {
    return this.#get(key, "a list", (v): v is number[] => Array.isArray(v));
  }
}
