/**
 * Errors the command line prints as one line, without a stack trace: a
 * mistake in the user's input or environment (a flag, a file, a full disk:
 * exit code 2), something missing from the machine that the user can install
 * or build (exit code 1), or a training run that diverged (exit code 3).
 * Anything else is a bug and keeps its stack.
 * @module
 */

/** A mistake in the user's input; its message says "Cannot X: reason" and names the flag or file. */
export class UserError extends Error {
  override name = "UserError";
}

/** Something to install or build first (a compiler, a library); the message says what. */
export class SetupError extends Error {
  override name = "SetupError";
}

/** Training produced a NaN or an infinity (a loss or a weight); the message names the iteration. */
export class DivergedError extends Error {
  override name = "DivergedError";
}

/**
 * Training stopped on a signal (SIGTERM, SIGINT, SIGUSR1: a scheduler's
 * preemption or a Ctrl-C) after writing a checkpoint at `iteration`; the exit
 * code is the shell's for that signal, 128 + its number, so a scheduler sees
 * the job as interrupted, not finished.
 */
export class StoppedError extends Error {
  override name = "StoppedError";
  constructor(message: string, readonly signal: Deno.Signal, readonly iteration: number) {
    super(message);
  }
}

/** The shell's exit code of a process ended by `signal` (128 + the signal's number). */
export const SIGNAL_EXIT_CODES: Partial<Record<Deno.Signal, number>> = {
  SIGINT: 130,
  SIGUSR1: 138,
  SIGTERM: 143,
};

/** The exit code of each one-line error; anything else is a bug. */
export function exitCodeOf(e: unknown): number | null {
  if (e instanceof UserError) return 2;
  if (e instanceof SetupError) return 1;
  if (e instanceof DivergedError) return 3;
  if (e instanceof StoppedError) return SIGNAL_EXIT_CODES[e.signal] ?? 1;
  return null;
}
