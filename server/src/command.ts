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

/** An error whose message is meant for the user as is (no stack trace printed). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
