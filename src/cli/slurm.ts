/**
 * `reproduce --launcher slurm`: one sbatch script for a table, a job array
 * with one task per run. Each task asks `reproduce --cell-command I` for its
 * run's train flags (a fresh start, `--resume` where a requeued task stopped,
 * or nothing where it finished) and trains in its run folder. Slurm's warning
 * before the time limit (`--signal=B:USR1@...`) reaches the batch shell,
 * which passes it on to the run as SIGTERM (Deno 2.9.2 and later start their
 * debugger's server on a SIGUSR1): the run writes a checkpoint and exits 143,
 * and the task puts itself back in the queue. A requeue or a cancel sends
 * SIGTERM to every process of the job, the run's included: the run stops at
 * a checkpoint of its own (exit 143), and the shell does not pass that signal
 * on (a second one would stop the run at once). docs/cluster.md.
 * @module
 */
import { SIGNAL_EXIT_CODES, UserError } from "../util/errors.ts";

/** Where and how big each task is: the sbatch flags a table's array gets. */
export interface SlurmSettings {
  partition?: string;
  account?: string;
  /** Each task's time limit, in sbatch's format (HH:MM:SS, D-HH:MM, minutes). */
  time?: string;
  gpusPerTask?: number;
  cpusPerTask: number;
  /** Seconds before the time limit at which the task stops at a checkpoint and requeues. */
  warningSeconds: number;
  /** Further `#SBATCH` lines' flags, as given (for example "--qos=short"). */
  extra: string[];
}

/** The keys a --slurm-config file may set (JSON), and what each must be. */
const CONFIG_KEYS: Record<keyof SlurmSettings, (v: unknown) => boolean> = {
  partition: (v) => typeof v === "string" && v !== "",
  account: (v) => typeof v === "string" && v !== "",
  time: (v) => typeof v === "string" && v !== "",
  gpusPerTask: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  cpusPerTask: (v) => Number.isSafeInteger(v) && (v as number) >= 1,
  warningSeconds: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  extra: (v) => Array.isArray(v) && v.every((x) => typeof x === "string" && x.startsWith("--")),
};

/** The settings of a --slurm-config file: a JSON object with some of SlurmSettings's keys. */
export function readSlurmConfig(path: string): Partial<SlurmSettings> {
  let value: unknown;
  try {
    value = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new UserError(`Cannot read --slurm-config ${path}: ${(e as Error).message}`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new UserError(`Cannot read --slurm-config ${path}: expected a JSON object`);
  }
  for (const [k, v] of Object.entries(value)) {
    const check = CONFIG_KEYS[k as keyof SlurmSettings];
    if (!check) {
      throw new UserError(
        `Cannot read --slurm-config ${path}: unknown key '${k}' (known: ${
          Object.keys(CONFIG_KEYS).join(", ")
        })`,
      );
    }
    if (!check(v)) {
      throw new UserError(
        `Cannot read --slurm-config ${path}: bad value of '${k}': ${JSON.stringify(v)}`,
      );
    }
  }
  return value as Partial<SlurmSettings>;
}

/** A word quoted for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** What one table's array needs. */
export interface ArrayJob {
  /** The table's name (the job's name is advssl-<name>). */
  name: string;
  /** The number of runs: the array's tasks 0 to tasks - 1. */
  tasks: number;
  /** The table's folder (absolute): the runs, and slurm/ with the script and the tasks' logs. */
  out: string;
  /** reproduce's flags that name the table's runs (the task adds --cell-command I). */
  reproduceArgs: string[];
  /** The repository's root and the deno binary, as the cluster's nodes see them. */
  repo: string;
  deno: string;
  settings: SlurmSettings;
}

/** The sbatch script of a table's job array. */
export function sbatchScript(job: ArrayJob): string {
  const s = job.settings;
  const q = shellQuote;
  const term = SIGNAL_EXIT_CODES.SIGTERM;
  const directives = [
    `--job-name=advssl-${job.name}`,
    `--array=0-${job.tasks - 1}`,
    "--requeue",
    `--signal=B:USR1@${s.warningSeconds}`,
    "--open-mode=append",
    `--output=${job.out}/slurm/%A_%a.log`,
    `--cpus-per-task=${s.cpusPerTask}`,
    ...(s.partition ? [`--partition=${s.partition}`] : []),
    ...(s.account ? [`--account=${s.account}`] : []),
    ...(s.time ? [`--time=${s.time}`] : []),
    ...(s.gpusPerTask ? [`--gpus-per-task=${s.gpusPerTask}`] : []),
    ...s.extra,
  ];
  return `#!/bin/bash
# advssl: the table ${job.name} as a Slurm job array, one task per run (deno task reproduce
# --launcher slurm wrote this). When every task has ended, run reproduce again without --launcher
# to read the runs back into the table.
${directives.map((d) => `#SBATCH ${d}`).join("\n")}
set -uo pipefail
cd ${q(job.repo)} || exit 2
DENO=${q(job.deno)}
REPRODUCE=(${job.reproduceArgs.map(q).join(" ")})
echo "task $SLURM_ARRAY_TASK_ID (job $SLURM_JOB_ID, restart \${SLURM_RESTART_COUNT:-0}) on $(hostname)"
# The run's train flags, NUL-separated: a start, --resume where a requeued task stopped, or none
# where the run has finished.
flags=$(mktemp)
"$DENO" run --allow-all src/cli/reproduce.ts "\${REPRODUCE[@]}" --cell-command "$SLURM_ARRAY_TASK_ID" >"$flags" || exit $?
mapfile -d '' args <"$flags"
rm -f "$flags"
if [ \${#args[@]} -eq 0 ]; then echo "the run has finished"; exit 0; fi
"$DENO" run --allow-all src/cli/main.ts "\${args[@]}" &
pid=$!
# The warning before the time limit reaches this shell only: pass it on, as SIGTERM (a SIGUSR1
# would also start Deno's debugger). A requeue or a cancel signals every process of the job, the
# run included: do not pass that on (a second signal stops a run at once, without its checkpoint).
warned=0
trap 'warned=1; kill -TERM "$pid" 2>/dev/null' USR1
trap ':' TERM
code=0
wait "$pid" || code=$?
while kill -0 "$pid" 2>/dev/null; do
  code=0
  wait "$pid" || code=$?
done
# Stopped at a checkpoint by the warning: back into the queue, to resume where it stopped.
if [ "$warned" -eq 1 ] && [ "$code" -eq ${term} ]; then scontrol requeue "$SLURM_JOB_ID"; fi
exit "$code"
`;
}

/** Whether `sbatch` can be run here. */
function hasSbatch(): boolean {
  try {
    return new Deno.Command("sbatch", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Submits the script at `path` with sbatch; returns the array's job id. */
export async function submit(path: string): Promise<string> {
  if (!hasSbatch()) {
    throw new UserError(
      "Cannot use --launcher slurm: sbatch is not installed here (Debian: apt-get install slurm-client; or run reproduce on the cluster's login node; --dry-run prints the script)",
    );
  }
  const r = await new Deno.Command("sbatch", { args: ["--parsable", path] }).output();
  const text = new TextDecoder();
  if (!r.success) {
    const err = text.decode(r.stderr).trim().split("\n").at(-1) ?? "";
    throw new UserError(`Cannot submit ${path}: sbatch failed (exit ${r.code}): ${err}`);
  }
  return text.decode(r.stdout).trim().split(";")[0];
}
