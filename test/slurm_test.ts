/**
 * `reproduce --launcher slurm` on a real Slurm: the one-node cluster that
 * scripts/slurm-local.sh starts (.ci/run does). A shortened two-circles table
 * (2 seeds) goes in as one job array; one task gets Slurm's time-limit
 * warning while it trains (scancel --signal=USR1 --batch), stops at a
 * checkpoint, requeues itself and resumes; the table read back after the
 * array ends equals a local run of the same cells. Skipped, saying so, where
 * no Slurm answers; the dry run and the missing-sbatch error are tested
 * everywhere.
 */
import assert from "node:assert/strict";
import { runCli } from "./commands.ts";

const text = new TextDecoder();

/** A command's stdout, or null where it cannot run or fails. */
function output(cmd: string, args: string[]): string | null {
  try {
    const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
    return r.success ? text.decode(r.stdout) : null;
  } catch {
    return null;
  }
}

const slurmUp = output("sinfo", ["-h"]) !== null;
const skip = slurmUp ? "" : " (skipped: no Slurm answers sinfo; scripts/slurm-local.sh starts one)";

/** The rows of a table.md: the lines of the markdown table only. */
function tableRows(dir: string): string[] {
  return Deno.readTextFileSync(`${dir}/table.md`).split("\n").filter((l) => l.startsWith("|"));
}

async function until(what: string, seconds: number, ok: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`Timed out after ${seconds} s: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const COMMON = ["circles", "--seeds", "2", "--iterations-scale", "0.5"];

Deno.test("slurm: --dry-run prints one job array with a task per run, and submits nothing", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runCli(
    "reproduce.ts",
    ...COMMON,
    "--launcher",
    "slurm",
    "--dry-run",
    "--partition",
    "gpu",
    "--gpus-per-task",
    "1",
    "--time",
    "04:00:00",
    "--out",
    `${dir}/t`,
  );
  assert.equal(r.code, 0, r.err);
  // Two circles: 5 rows x 2 columns x 2 seeds.
  for (
    const line of [
      "#SBATCH --array=0-19",
      "#SBATCH --requeue",
      "#SBATCH --signal=B:USR1@120",
      "#SBATCH --partition=gpu",
      "#SBATCH --gpus-per-task=1",
      "#SBATCH --time=04:00:00",
      `#SBATCH --output=${dir}/t/slurm/%A_%a.log`,
    ]
  ) assert(r.out.split("\n").includes(line), `no ${line} in:\n${r.out}`);
  assert.match(r.out, /--cell-command "\$SLURM_ARRAY_TASK_ID"/);
  assert.deepEqual([...Deno.readDirSync(dir)], [], "a dry run wrote something");
  const local = await runCli("reproduce.ts", ...COMMON, "--partition", "gpu");
  assert.equal(local.code, 2);
  assert.match(local.err, /^error: Cannot use --partition: it applies to --launcher slurm\n$/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("slurm: without sbatch, --launcher slurm is one line naming the package", async () => {
  const dir = await Deno.makeTempDir();
  // A PATH with deno's folder only: no sbatch.
  const deno = Deno.execPath();
  const r = await new Deno.Command(deno, {
    args: [
      "run",
      "--allow-all",
      new URL("../src/cli/reproduce.ts", import.meta.url).pathname,
      ...COMMON,
      "--launcher",
      "slurm",
      "--out",
      `${dir}/t`,
    ],
    env: { PATH: deno.slice(0, deno.lastIndexOf("/")) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 2);
  assert.match(
    text.decode(r.stderr),
    /^error: Cannot use --launcher slurm: sbatch is not installed here \(Debian: apt-get install slurm-client;.*\n$/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    `slurm: a table as a job array, one task warned and requeued mid-run, equals a local run${skip}`,
  ignore: !slurmUp,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const [local, cluster] = [`${dir}/local`, `${dir}/slurm`];
    const l = await runCli("reproduce.ts", ...COMMON, "--jobs", "2", "--out", local);
    assert.equal(l.code, 0, l.err);

    const s = await runCli("reproduce.ts", ...COMMON, "--launcher", "slurm", "--out", cluster);
    assert.equal(s.code, 0, s.err);
    const id = s.out.match(/^submitted job array (\d+): 20 tasks/m)?.[1];
    assert(id, s.out);
    let warner: Deno.ChildProcess | null = null;
    try {
      // Task 16 is row 4 (our settings, 6000 iterations at full scale), column 0, seed 1.
      const run = `${cluster}/4-0-1`;
      await until("task 16 starts training", 180, () => {
        try {
          return Deno.statSync(`${run}/config.json`).isFile;
        } catch {
          return false;
        }
      });
      await new Promise((r) => setTimeout(r, 1000));
      assert.throws(() => Deno.statSync(`${run}/summary.json`), "the run ended before the warning");
      // Slurm's time-limit warning, to the batch shell only. scancel's own status is not the
      // test: it retries while the task requeues itself, and may then report a failure.
      warner = new Deno.Command("scancel", {
        args: ["--signal=USR1", "--batch", `${id}_16`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const log = () => {
        const f = [...Deno.readDirSync(`${cluster}/slurm`)].find((e) => e.name.endsWith("_16.log"));
        return f ? Deno.readTextFileSync(`${cluster}/slurm/${f.name}`) : "";
      };
      await until(
        "task 16 stops at a checkpoint",
        60,
        () => /stopped by SIGTERM at iteration \d+/.test(log()),
      );
      // A requeued task waits for a begin time; let it start now.
      await until("task 16 is requeued", 60, () => {
        const state = output("squeue", ["-h", "-j", `${id}_16`, "-o", "%T %r"]) ?? "";
        return /PENDING/.test(state);
      });
      output("scontrol", ["update", `JobId=${id}_16`, "StartTime=now"]);
      await until(
        "the array ends",
        600,
        () => (output("squeue", ["-h", "-j", id]) ?? "x").trim() === "",
      );
      const at = log().match(/stopped by SIGTERM at iteration (\d+)/)![1];
      assert.match(log(), new RegExp(`resuming ${run} at iteration ${at}/3000`));
      assert.match(log(), /restart 1\)/);
    } finally {
      output("scancel", [id]);
      try {
        warner?.kill();
      } catch { /* it has ended */ }
      await warner?.status;
    }
    // Read back: the same table as the local run's, cell for cell.
    const back = await runCli("reproduce.ts", ...COMMON, "--out", cluster);
    assert.equal(back.code, 0, back.err);
    assert.deepEqual(tableRows(cluster), tableRows(local));
    await Deno.remove(dir, { recursive: true });
  },
});
