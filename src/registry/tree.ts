/**
 * The options of a run as a tree: leaves are plain options; a choice (the
 * data set, the method, the generator's output mode, ...) has alternatives,
 * and each alternative brings options of its own that exist only while it is
 * chosen. Flags stay flat (`--g-radius`), so the tree is flattened into one
 * table that records, for every option, the choices it lives under.
 * @module
 */
import { flagOf, type OptionGroup, type OptionSpec, type Value } from "../util/options.ts";

/** One alternative of a choice: what it is, and the options it brings. */
export interface Alternative {
  help: string;
  /** A stabiliser or ablation we tried rather than the paper's setting. */
  group?: OptionGroup;
  options?: Record<string, OptionNode>;
}

/** A choice among named alternatives (a tagged choice: each brings its own options). */
export interface ChoiceNode {
  kind: "choice";
  help: string;
  group?: OptionGroup;
  alternatives: Record<string, Alternative>;
}

/** A plain option (no default: presets give every value), or a choice. */
export type OptionNode = Exclude<OptionSpec, { kind: "choice" }> | ChoiceNode;

/** A choice and the alternatives under which an option exists. */
export interface Condition {
  key: string;
  values: string[];
}

/** An option of the flattened tree. */
export interface FlatOption {
  key: string;
  /** The spec the parser converts with (a choice becomes its list of names). */
  spec: OptionSpec;
  /** The node as declared (a choice keeps its alternatives). */
  node: OptionNode;
  /** The option exists where all conditions of one of these paths hold. */
  paths: Condition[][];
}

/** The spec the parser converts a node's values with (a choice becomes its list of names). */
export function specOf(node: OptionNode): OptionSpec {
  return node.kind === "choice"
    ? {
      kind: "choice",
      help: node.help,
      group: node.group,
      choices: Object.keys(node.alternatives),
    }
    : node;
}

/** Every option of a tree by key, in declaration order (depth first). */
export function flatten(root: Record<string, OptionNode>): Map<string, FlatOption> {
  const out = new Map<string, FlatOption>();
  const walk = (table: Record<string, OptionNode>, path: Condition[]) => {
    for (const [key, node] of Object.entries(table)) {
      if ("default" in node && node.default !== undefined) {
        throw new Error(`Cannot declare ${flagOf(key)} with a default: presets give run values`);
      }
      const seen = out.get(key);
      if (seen && seen.node !== node) {
        throw new Error(`Cannot declare ${flagOf(key)} twice with different specs`);
      }
      const spec: OptionSpec = node.kind === "choice"
        ? {
          kind: "choice",
          help: node.help,
          group: node.group,
          choices: Object.keys(node.alternatives),
        }
        : node;
      if (seen) seen.paths.push(path);
      else out.set(key, { key, spec, node, paths: [path] });
      if (node.kind === "choice") {
        for (const [name, alt] of Object.entries(node.alternatives)) {
          if (alt.options) walk(alt.options, [...path, { key, values: [name] }]);
        }
      }
    }
  };
  walk(root, []);
  return out;
}

const holds = (c: Condition, values: Record<string, Value>) =>
  typeof values[c.key] === "string" && c.values.includes(values[c.key] as string);

/** Whether an option exists under the choices that `values` make. */
export function isActive(option: FlatOption, values: Record<string, Value>): boolean {
  return option.paths.some((p) => p.every((c) => holds(c, values)));
}

/**
 * Why an option does not exist under the choices that `values` make: the
 * first choice that rules out every path, e.g. "it applies to --g-output
 * residual, bounded or normalized, not free".
 */
export function whyInactive(option: FlatOption, values: Record<string, Value>): string {
  // The first failing condition of each path; paths that fail on the same choice merge.
  const failing = new Map<string, Set<string>>();
  for (const p of option.paths) {
    const c = p.find((c) => !holds(c, values));
    if (!c) continue;
    const set = failing.get(c.key) ?? new Set();
    c.values.forEach((v) => set.add(v));
    failing.set(c.key, set);
  }
  const [key, allowed] = [...failing][0];
  const names = [...allowed];
  const list = names.length > 1
    ? `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`
    : names[0];
  return `it applies to ${flagOf(key)} ${list}, not ${values[key] ?? "(none)"}`;
}
