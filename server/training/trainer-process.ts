// Runs the Python trainer as a child process and speaks docs/training-protocol.md with it: JSON
// lines on stdout are events, stderr is for humans (we keep its last lines for error messages).
// Success is `done` followed by exit code 0; everything else becomes one TrainerError.
import { spawn } from 'node:child_process';
import { trainerSpawnOptions } from './python';
import { TrainerError, trainerKind } from './trainer-error';

export interface StartEvent {
  event: 'start';
  preset: string;
  params: number;
  device: string;
  world_size: number;
  /** null with a --minutes budget: the step count is not known in advance. */
  total_steps: number | null;
  tokens_per_step: number;
  resumed_from_step: number | null;
}
export interface StepEvent {
  event: 'step';
  step: number;
  /** With a --minutes budget, the current estimate. */
  total_steps: number;
  /** null when the trainer reports a non-finite loss. */
  loss: number | null;
  lr: number;
  tokens_per_s: number;
  elapsed_s: number;
  eta_s: number | null;
}
/** Held-out exact match of the reference sampler on single lines (fractions 0..1; see the protocol). */
export interface InfillExact {
  cases?: number;
  /** At the true answer length. */
  oracle?: number;
  /** With a canvas of masks, the model choosing the length. */
  variable?: number;
  [field: string]: unknown;
}
export interface EvalEvent {
  event: 'eval';
  step: number;
  val_loss: number | null;
  infill_exact?: InfillExact | null;
}
export interface CheckpointEvent {
  event: 'checkpoint';
  step: number;
  path: string;
}
export interface ExportEvent {
  event: 'export';
  stage: string;
  path: string;
}
export interface DoneEvent {
  event: 'done';
  model_dir: string;
  steps: number;
  tokens: number;
  val_loss: number | null;
  wall_s: number;
}
export interface ErrorEvent {
  event: 'error';
  message: string;
  kind: string;
}
export type TrainerEvent = StartEvent | StepEvent | EvalEvent | CheckpointEvent | ExportEvent | DoneEvent | ErrorEvent;

const KNOWN_EVENTS: ReadonlySet<string> = new Set(['start', 'step', 'eval', 'checkpoint', 'export', 'done', 'error']);

/**
 * One stdout line -> an event, or undefined for anything that is not a protocol object (a library
 * that prints to stdout, an event name from a newer trainer): such lines are logged, never fatal.
 */
export function parseEventLine(line: string): TrainerEvent | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const event = (value as { event?: unknown }).event;
  if (typeof event !== 'string' || !KNOWN_EVENTS.has(event)) return undefined;
  return value as TrainerEvent;
}

/** Splits a byte stream into lines; a line may arrive over several chunks. */
export class LineSplitter {
  private pending = '';
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      this.onLine(line);
    }
  }

  end(): void {
    this.pending += this.decoder.decode();
    if (this.pending.length > 0) this.onLine(this.pending.replace(/\r$/, ''));
    this.pending = '';
  }
}

/** Keeps the last `size` lines. */
class Tail {
  private readonly lines: string[] = [];
  constructor(private readonly size: number) {}
  push(line: string): void {
    if (line.trim() === '') return;
    this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  get(): string[] {
    return [...this.lines];
  }
}

export interface TrainerProcessOptions {
  /** Python interpreter. */
  python: string;
  /** Module run with `-m` (default diffill_trainer.train). */
  module?: string;
  /** Arguments after the module name. */
  args: readonly string[];
  /** The folder holding the trainer package: the child's working directory, and prepended to PYTHONPATH. */
  pythonPath: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting sends SIGTERM; the run then fails with kind 'cancelled'. */
  signal?: AbortSignal;
  /** How long to wait after SIGTERM before SIGKILL (default 60 s: a step may be long on CPU). */
  killGraceMs?: number;
  /** Aborting kills the trainer at once (SIGKILL), e.g. on a second Ctrl-C; also counts as a cancel. */
  forceSignal?: AbortSignal;
  onEvent?: (event: TrainerEvent) => void;
  /**
   * Every human-readable line as it arrives (for a log view): stderr, and stdout lines that are not
   * protocol events. Only stderr lines go into error messages: the two pipes are not ordered with
   * respect to each other, and the trainer's diagnostics are on stderr.
   */
  onLog?: (line: string, stream: 'stderr' | 'stdout') => void;
  /** How many stderr lines an error keeps (default 20). */
  tailLines?: number;
}

export interface TrainerRun {
  start: StartEvent | undefined;
  done: DoneEvent;
  /** The last step event, if any. */
  lastStep: StepEvent | undefined;
  evals: EvalEvent[];
}

/** Runs the trainer to completion. Resolves after `done` and exit 0; otherwise rejects with a TrainerError. */
export function runTrainer(opts: TrainerProcessOptions): Promise<TrainerRun> {
  const module = opts.module ?? 'diffill_trainer.train';
  const tail = new Tail(opts.tailLines ?? 20);
  if (opts.signal?.aborted) return Promise.reject(new TrainerError('cancelled', 'training was cancelled before it started'));

  return new Promise<TrainerRun>((resolve, reject) => {
    // In the trainer's own folder, not this process's working directory (see trainerSpawnOptions).
    const { cwd, env } = trainerSpawnOptions(opts.pythonPath, opts.env ?? process.env);
    // A process group of its own: Ctrl-C in the terminal reaches only us, and we stop the trainer
    // with the protocol's SIGTERM instead of a KeyboardInterrupt traceback in the child.
    const child = spawn(opts.python, ['-m', module, ...opts.args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });

    let start: StartEvent | undefined;
    let done: DoneEvent | undefined;
    let lastStep: StepEvent | undefined;
    let lastError: ErrorEvent | undefined;
    let lastCheckpoint: CheckpointEvent | undefined;
    const evals: EvalEvent[] = [];
    let cancelled = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let callbackError: unknown;

    const handleEvent = (event: TrainerEvent) => {
      switch (event.event) {
        case 'start':
          start = event;
          break;
        case 'step':
          lastStep = event;
          break;
        case 'eval':
          evals.push(event);
          break;
        case 'done':
          done = event;
          break;
        case 'error':
          lastError = event;
          break;
        case 'checkpoint':
          lastCheckpoint = event;
          break;
        default:
          break;
      }
      try {
        opts.onEvent?.(event);
      } catch (err) {
        // A broken progress callback must not leave the trainer running unobserved.
        callbackError ??= err;
        stop();
      }
    };

    const stdout = new LineSplitter((line) => {
      const event = parseEventLine(line);
      if (event !== undefined) handleEvent(event);
      else opts.onLog?.(line, 'stdout');
    });
    const stderr = new LineSplitter((line) => {
      tail.push(line);
      opts.onLog?.(line, 'stderr');
    });
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));

    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      cancelled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 60_000);
    };
    const onAbort = () => stop();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const onForce = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      cancelled = true;
      child.kill('SIGKILL');
    };
    opts.forceSignal?.addEventListener('abort', onForce, { once: true });
    // If this process exits first (an uncaught error elsewhere), do not leave a detached trainer behind.
    const onExit = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    process.on('exit', onExit);

    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });

    child.on('close', (code, signal) => {
      stdout.end();
      stderr.end();
      if (killTimer !== undefined) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      opts.forceSignal?.removeEventListener('abort', onForce);
      process.off('exit', onExit);
      const lastLines = tail.get();
      const details = { lastLines, exitCode: code, signal };

      if (spawnError !== undefined) {
        const why = spawnError.code === 'ENOENT' ? 'no such file or command' : spawnError.message;
        reject(new TrainerError('missing_python', `cannot start the trainer with Python '${opts.python}': ${why}`, details));
        return;
      }
      if (callbackError !== undefined) {
        reject(callbackError);
        return;
      }
      if (done !== undefined && code === 0) {
        resolve({ start, done, lastStep, evals });
        return;
      }
      if (cancelled) {
        const at = lastStep !== undefined ? ` at step ${lastStep.step}` : '';
        const resume = lastCheckpoint !== undefined ? ` (checkpoint of step ${lastCheckpoint.step} kept at ${lastCheckpoint.path}: rerun with --resume to continue)` : '';
        reject(new TrainerError('cancelled', `training was cancelled${at}; no model was written${resume}`, details));
        return;
      }
      if (lastError !== undefined) {
        reject(new TrainerError(trainerKind(lastError.kind), `the trainer failed: ${lastError.message}`, details));
        return;
      }
      if (signal !== null) {
        const hint = signal === 'SIGKILL' ? ' (the system may have run out of memory)' : '';
        reject(new TrainerError('killed', `the trainer was killed by ${signal}${hint}`, details));
        return;
      }
      if (code !== 0) {
        reject(new TrainerError('crashed', `the trainer exited with code ${code} without reporting an error`, details));
        return;
      }
      reject(new TrainerError('no_done', 'the trainer exited without finishing (no `done` event); no model was written', details));
    });
  });
}
