/**
 * `deno task train --help`: the options of the run the other flags describe
 * (by default the run of a plain `deno task train`), each with the value that
 * run uses, grouped as the registry declares them: the run's own, then a
 * section per data set, method and model, the stabilisers and ablations we
 * tried listed apart from the paper's options.
 * @module
 */
import type { RunConfig } from "../registry/config.ts";
import type { Registry } from "../registry/registry.ts";
import { allPresets } from "../registry/resolve.ts";
import { runOptions, type SectionChoice } from "../registry/registry.ts";
import { type OptionNode, specOf } from "../registry/tree.ts";
import { flagOf, formatValue, metavar, type OptionSpec } from "../util/options.ts";
import { formatRows, type HelpRow, optionRow } from "./args.ts";

const GROUPS = [
  [undefined, ""],
  ["stabiliser", "stabilisers (ours, not the paper's):"],
  ["ablation", "ablations (ours, not the paper's):"],
] as const;

const isSection = (n: OptionNode): n is SectionChoice => "section" in n;

/** Rows of the options of one table that apply to the run, nested choices indented. */
function rows(table: Record<string, OptionNode>, cfg: RunConfig, indent: string): HelpRow[] {
  const out: HelpRow[] = [];
  for (const [group, heading] of GROUPS) {
    const items = Object.entries(table).filter(([k, n]) => cfg.has(k) && n.group === group);
    if (!items.length) continue;
    const pad = heading ? `${indent}  ` : indent;
    if (heading) out.push([`${indent}${heading}`]);
    for (const [key, node] of items) {
      const word = metavar(specOf(node));
      out.push([
        `${pad}${flagOf(key)}${word ? ` ${word}` : ""}`,
        formatValue(cfg.values[key]),
        node.help,
      ]);
      // A section's chosen alternative gets a section of its own below.
      if (node.kind !== "choice" || isSection(node)) continue;
      for (const [name, alt] of Object.entries(node.alternatives)) {
        out.push(["", "", `  ${name}: ${alt.help}${alt.group ? ` (${alt.group})` : ""}`]);
      }
      const chosen = node.alternatives[cfg.string(key)];
      if (chosen.options) out.push(...rows(chosen.options, cfg, `${pad}  `));
    }
  }
  return out;
}

/** Rows of the flags that are not run options (--preset, --config, ...). */
export type MetaTable = Record<string, OptionSpec>;

/** The --help text of `deno task train` for the run `cfg`. */
export function runHelp(reg: Registry, cfg: RunConfig, meta: MetaTable): string {
  const root = runOptions(reg);
  const preset = allPresets(reg).get(cfg.preset)!;
  const out: HelpRow[] = [["run"], ...rows(root, cfg, "  ")];
  for (const [key, node] of Object.entries(root)) {
    if (!isSection(node)) continue;
    const name = cfg.string(key);
    const alt = node.alternatives[name];
    out.push([""], [`${node.section} ${name}: ${alt.help}`]);
    if (alt.options) out.push(...rows(alt.options, cfg, "  "));
  }
  out.push([""], ["other flags"], ...Object.entries(meta).map(([k, s]) => optionRow(k, s)));
  out.push(["  --help", "this text"]);
  return [
    "usage: deno task train [flags]",
    "",
    `Trains a classifier. This run starts from preset ${cfg.preset}:`,
    `  ${preset.description}.`,
    "Each option below shows the value this run uses (the preset's, then --config's, then the",
    "flags'); give --help with --preset NAME, or --dataset X --method Y, for another run's.",
    "Boolean flags take --flag or --no-flag. An option that does not apply to a run is an error.",
    "",
    formatRows(out),
    "",
    `presets: ${[...allPresets(reg).keys()].join(", ")}`,
  ].join("\n");
}
