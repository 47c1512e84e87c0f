/**
 * `deno task data`: fetch and check the data sets by hand.
 *
 *   deno task data download <name> [--data-dir DIR] [--extra]
 *   deno task data verify <name> [--data-dir DIR] [--extra]
 *   deno task data info <name> [--data-dir DIR] [--svhn-scaling unit|centered]
 *
 * A user's mistake (unknown name, missing or bad file, offline) prints one
 * line and exits with code 2.
 * @module
 */
import { parseArgs } from "node:util";
import { UserError } from "../util/errors.ts";
import { ensureFiles, verifyDataset } from "./cache.ts";
import { loadDataset, type SvhnScaling } from "./datasets.ts";
import { cacheDir, DATA_DIR_ENV, type DatasetName, DATASETS, source } from "./sources.ts";

const USAGE = `usage: deno task data <command> <name> [options]
commands:
  download <name>   download what is missing into <data dir>/<name>/ and check it
  verify <name>     check the SHA-256 of every file present (no download)
  info <name>       load the set (downloading if needed) and print its shapes and label counts
names: ${DATASETS.join(", ")}
options:
  --data-dir DIR            data folder (default $${DATA_DIR_ENV}, else ./data)
  --extra                   SVHN: include extra_32x32.mat
  --svhn-scaling S          info: unit or centered (default unit)
  --no-zca                  info: CIFAR-10 without ZCA whitening
  --help                    this text`;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "data-dir": { type: "string" },
        extra: { type: "boolean", default: false },
        "svhn-scaling": { type: "string", default: "unit" },
        "no-zca": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    });
  } catch (e) {
    throw new UserError(`Cannot parse the options: ${(e as Error).message.split(". ")[0]}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [command, name] = positionals;
  if (!command || !["download", "verify", "info"].includes(command)) {
    throw new UserError(
      `Cannot run 'data ${
        command ?? ""
      }': expected a command: download, verify or info (see --help)`,
    );
  }
  if (!name || positionals.length > 2) {
    throw new UserError(
      `Cannot run 'data ${command}': expected one data set name (${DATASETS.join(", ")})`,
    );
  }
  const src = source(name);
  const dataDir = values["data-dir"];
  const ds = name as DatasetName;
  if (command === "download") {
    const paths = await ensureFiles(ds, { dataDir, optional: values.extra });
    const report = await verifyDataset(ds, { dataDir, optional: values.extra });
    for (const l of report.lines) console.log(l);
    if (!report.ok) {
      throw new UserError(`Cannot download ${src.title}: some files failed the check`);
    }
    console.log(
      `${src.title}: ${paths.size} files ready in ${cacheDir(ds, dataDir)}/ or ${
        dataDir ?? "the data folder"
      }`,
    );
    return 0;
  }
  if (command === "verify") {
    const report = await verifyDataset(ds, { dataDir, optional: values.extra });
    for (const l of report.lines) console.log(l);
    if (!report.ok) {
      throw new UserError(`Cannot verify ${src.title}: files are missing or damaged (see above)`);
    }
    return 0;
  }
  const data = await loadDataset(ds, {
    dataDir,
    svhnExtra: values.extra,
    svhnScaling: values["svhn-scaling"] as SvhnScaling,
    zca: !values["no-zca"],
  });
  for (
    const [part, set] of Object.entries({ train: data.train, test: data.test, extra: data.extra })
  ) {
    if (!set) continue;
    const counts = new Array(data.classes).fill(0);
    for (const l of set.labels) counts[l]++;
    let lo = Infinity, hi = -Infinity;
    for (const v of set.images) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    console.log(
      `${part}: ${set.shape.join("x")}, values in [${lo.toFixed(3)}, ${
        hi.toFixed(3)
      }], labels per class ${counts.join(" ")}`,
    );
  }
  console.log(`preprocessing: ${data.preprocessing}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`error: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
