/** One CLI sub-command. Each lives in its own file under commands/ and is listed in cli.ts. */
export interface Command {
  /** Name typed after `diffill`. */
  readonly name: string;
  /** One line shown by `diffill --help`. */
  readonly summary: string;
  /** Full usage text shown by `diffill <name> --help`. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * The command line itself is wrong (an unknown flag, a value out of range, a missing argument): the
 * message is shown as is and the exit status is 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The command line is well formed but the command cannot do it (a file missing or unwritable, a
 * model directory already there): the message is shown as is and the exit status is 1.
 */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}
