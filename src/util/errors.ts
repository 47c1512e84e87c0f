/**
 * Errors the command line prints as one line, without a stack trace: a
 * mistake in the user's input (a flag, a file: exit code 2), or something
 * missing from the machine that the user can install or build (exit code 1).
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
