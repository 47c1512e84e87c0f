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

/** The exit code of each one-line error; anything else is a bug. */
export function exitCodeOf(e: unknown): number | null {
  if (e instanceof UserError) return 2;
  if (e instanceof SetupError) return 1;
  if (e instanceof DivergedError) return 3;
  return null;
}
