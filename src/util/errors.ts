/**
 * Errors a user can cause and fix (a flag, a file, a missing package): the
 * command line prints their one-line message and exits with code 2, with no
 * stack trace. Anything else is a bug and keeps its stack.
 * @module
 */

/** A mistake in the user's input; its message says "Cannot X: reason" and names the flag or file. */
export class UserError extends Error {
  override name = "UserError";
}
