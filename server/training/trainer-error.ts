// The one error type of training runs. Every way a run can fail (no Python, no torch, bad data,
// a crash, a signal, a cancel) becomes a TrainerError whose message is written for the user and
// carries the trainer's last stderr lines, so nobody has to rerun with more logging to see why.

/**
 * - missing_python: the interpreter could not be started.
 * - missing_dependency, bad_data, bad_arguments, out_of_memory, disk_full, internal: the
 *   trainer's own `error` event kinds (docs/training-protocol.md).
 * - crashed: non-zero exit without an `error` event (e.g. an uncaught exception).
 * - killed: ended by a signal we did not send (often the kernel's out-of-memory killer).
 * - no_done: exited 0 without the `done` event (a protocol violation: treat as failure).
 * - cancelled: stopped on request (AbortSignal / Ctrl-C).
 */
export type TrainerErrorKind =
  | 'missing_python'
  | 'missing_dependency'
  | 'bad_data'
  | 'bad_arguments'
  | 'out_of_memory'
  | 'disk_full'
  | 'internal'
  | 'crashed'
  | 'killed'
  | 'no_done'
  | 'cancelled';

const TRAINER_KINDS: ReadonlySet<string> = new Set(['missing_dependency', 'bad_data', 'bad_arguments', 'out_of_memory', 'disk_full', 'internal']);

/** Maps an `error` event's kind to ours; an unknown kind from a newer trainer counts as internal. */
export function trainerKind(kind: unknown): TrainerErrorKind {
  return typeof kind === 'string' && TRAINER_KINDS.has(kind) ? (kind as TrainerErrorKind) : 'internal';
}

export interface TrainerErrorDetails {
  /** The trainer's last stderr lines (oldest first), possibly empty. */
  lastLines?: readonly string[];
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
}

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
  /** The failure in one line, without the trainer's output. */
  readonly summary: string;
  readonly lastLines: readonly string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;

  constructor(
    readonly kind: TrainerErrorKind,
    summary: string,
    details: TrainerErrorDetails = {},
  ) {
    const lastLines = details.lastLines ?? [];
    super(lastLines.length > 0 ? `${summary}\nlast lines of the trainer's output:\n${lastLines.map((l) => `  | ${l}`).join('\n')}` : summary);
    this.summary = summary;
    this.lastLines = lastLines;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
  }
}
