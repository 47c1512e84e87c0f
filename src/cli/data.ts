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
import { UserError } from "../util/errors.ts";
import type { OptionSpec } from "../util/options.ts";
import { ensureFiles, verifyDataset } from "../data/cache.ts";
import { loadDataset, type SvhnScaling } from "../data/datasets.ts";
import {
  cacheDir,
  DATA_DIR_ENV,
  type DatasetName,
  DATASETS,
  DOWNLOAD_TIMEOUT,
  DOWNLOAD_TIMEOUT_OPTION,
  source,
} from "../data/catalog.ts";
import { helpText, parseFlags, runMain } from "./args.ts";

const COMMANDS = ["download", "verify", "info"];

const OPTIONS: Record<string, OptionSpec> = {
  dataDir: {
    kind: "string",
    metavar: "DIR",
    help: `data folder (default $${DATA_DIR_ENV}, else ./data)`,
  },
  downloadTimeout: { ...DOWNLOAD_TIMEOUT_OPTION, default: DOWNLOAD_TIMEOUT },
  extra: { kind: "bool", default: false, help: "SVHN: include extra_32x32.mat" },
  svhnScaling: {
    kind: "choice",
    choices: ["unit", "centered"],
    default: "unit",
    help: "info: SVHN's pixels to [0, 1] or to (x - 127.5) / 255",
  },
  zca: {
    kind: "bool",
    default: true,
    help: "info: CIFAR-10 with ZCA whitening (--no-zca: without)",
  },
};

const ABOUT = `commands:
  download <name>   download what is missing into <data dir>/<name>/ and check it
  verify <name>     check the SHA-256 of every file present (no download)
  info <name>       load the set (downloading if needed) and print its shapes and label counts
names: ${DATASETS.join(", ")}`;

async function main(args: string[]): Promise<void> {
  const { values, positionals, help } = parseFlags(args, OPTIONS, {
    min: 0,
    max: 2,
    what: "a command (download, verify or info) and a data set name",
  });
  if (help) {
    console.log(helpText("deno task data <command> <name> [flags]", ABOUT, OPTIONS));
    return;
  }
  const [command, name] = positionals;
  if (!command || !COMMANDS.includes(command)) {
    throw new UserError(
      `Cannot run 'data ${
        command ?? ""
      }': expected a command: download, verify or info (see --help)`,
    );
  }
  if (!name) {
    throw new UserError(
      `Cannot run 'data ${command}': expected one data set name (${DATASETS.join(", ")})`,
    );
  }
  const src = source(name);
  const dataDir = values.dataDir as string | undefined;
  const extra = values.extra as boolean;
  const timeout = values.downloadTimeout as number;
  const ds = name as DatasetName;
  if (command === "download") {
    const paths = await ensureFiles(ds, { dataDir, optional: extra, timeout });
    const report = await verifyDataset(ds, { dataDir, optional: extra });
    for (const l of report.lines) console.log(l);
    if (!report.ok) {
      throw new UserError(`Cannot download ${src.title}: some files failed the check`);
    }
    console.log(
      `${src.title}: ${paths.size} files ready in ${cacheDir(ds, dataDir)}/ or ${
        dataDir ?? "the data folder"
      }`,
    );
    return;
  }
  if (command === "verify") {
    const report = await verifyDataset(ds, { dataDir, optional: extra });
    for (const l of report.lines) console.log(l);
    if (report.ok) {
      // What loading checks too (sizes, record counts, labels): verify never passes a file that
      // training then refuses.
      try {
        const data = await loadDataset(ds, {
          dataDir,
          download: false,
          zca: false,
          svhnExtra: extra,
        });
        console.log(
          `loads    train ${data.train.shape.join("x")}, test ${data.test.shape.join("x")}`,
        );
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        console.log(`BAD      ${e.message}`);
        report.ok = false;
      }
    }
    if (!report.ok) {
      throw new UserError(`Cannot verify ${src.title}: files are missing or damaged (see above)`);
    }
    return;
  }
  const data = await loadDataset(ds, {
    dataDir,
    timeout,
    svhnExtra: extra,
    svhnScaling: values.svhnScaling as SvhnScaling,
    zca: values.zca as boolean,
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
}

if (import.meta.main) await runMain(main);
