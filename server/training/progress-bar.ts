// Terminal progress for a training run: one redrawn line (bar, loss, tokens/s, ETA) on a TTY; plain,
// throttled lines otherwise (logs, CI), since carriage returns make a mess of a file.
import type { TrainerEvent, StepEvent } from './trainer-process';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  /** Without a TTY, the least time between two step lines (the last step is always shown). */
  plainIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** 45s, 2m05s, 1h02m; "?" for unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** 950, 12.3k, 4.56M, 1.2G. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const abs = Math.abs(n);
  if (abs < 1e3) return `${Math.round(n)}`;
  for (const [unit, scale] of [['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (abs >= scale) {
      const v = n / scale;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${unit}`;
    }
  }
  return `${n}`;
}

const fmtLoss = (x: number | null | undefined) => (x === null || x === undefined ? 'nan' : x.toFixed(3));

export class ProgressBar {
  private readonly tty: boolean;
  private readonly interval: number;
  private readonly now: () => number;
  private lastPlainAt = -Infinity;
  /** The bar line currently on screen (TTY only), redrawn after log lines. */
  private barLine = '';
  /**
   * A time budget (`start.total_steps` null): the trainer's step total is only an estimate that moves
   * with the speed, so the counter shows steps done and the bar the time used, never a total.
   */
  private timeBudget = false;

  constructor(
    private readonly stream: ProgressStream,
    opts: ProgressBarOptions = {},
  ) {
    this.tty = stream.isTTY === true;
    this.interval = opts.plainIntervalMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Shows one protocol event. */
  handle(event: TrainerEvent): void {
    switch (event.event) {
      case 'start': {
        const where = event.world_size > 1 ? `${event.world_size}x ${event.device}` : event.device;
        const resumed = event.resumed_from_step ? `, resuming from step ${event.resumed_from_step}` : '';
        this.timeBudget = event.total_steps === null;
        const steps = event.total_steps === null ? 'steps' : `${event.total_steps} steps`;
        this.log(
          `training preset ${event.preset} (${formatCount(event.params)} parameters) on ${where}: ` +
            `${steps} of ${formatCount(event.tokens_per_step)} tokens${resumed}`,
        );
        break;
      }
      case 'step':
        this.step(event);
        break;
      case 'eval': {
        const x = event.infill_exact;
        const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : undefined);
        const parts = [
          pct(x?.oracle) && `${pct(x?.oracle)} at the true length`,
          pct(x?.variable) && `${pct(x?.variable)} choosing the length`,
        ].filter(Boolean);
        const exact = parts.length > 0 ? `, infill exact match ${parts.join(', ')}` : '';
        this.log(`eval at step ${event.step}: held-out loss ${fmtLoss(event.val_loss)}${exact}`);
        break;
      }
      case 'checkpoint':
        this.log(`checkpoint at step ${event.step}: ${event.path}`);
        break;
      case 'export':
        this.log(`export (${event.stage}): ${event.path}`);
        break;
      case 'done':
      case 'error':
        // The caller reports the outcome (a summary, or the TrainerError).
        break;
    }
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${line}\n`);
      if (this.barLine) this.stream.write(this.barLine);
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Removes the bar (TTY) so that what follows starts on a clean line. */
  finish(): void {
    if (this.tty && this.barLine) this.stream.write('\r\x1b[2K');
    this.barLine = '';
  }

  private step(e: StepEvent): void {
    const eta = e.eta_s ?? null;
    const byTime = this.timeBudget && eta !== null && e.elapsed_s + eta > 0 ? e.elapsed_s / (e.elapsed_s + eta) : null;
    const raw = this.timeBudget ? (byTime ?? 0) : e.step / Math.max(1, e.total_steps);
    const fraction = Math.min(1, Math.max(0, raw));
    const stats = `loss ${fmtLoss(e.loss)}  ${formatCount(e.tokens_per_s)} tok/s  ETA ${formatDuration(e.eta_s)}`;
    const counter = this.timeBudget ? `step ${e.step}` : `step ${e.step}/${e.total_steps}`;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    if (this.tty) {
      const columns = this.stream.columns ?? 80;
      const fixed = counter.length + percent.length + stats.length + 6;
      const width = Math.max(0, Math.min(30, columns - fixed - 1));
      const filled = Math.round(fraction * width);
      const bar = width >= 5 ? ` [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : '';
      this.barLine = `\r\x1b[2K${counter}${bar} ${percent}  ${stats}`.slice(0, columns + 5); // +5: the escape codes take no columns
      this.stream.write(this.barLine);
      return;
    }
    const t = this.now();
    const last = this.timeBudget ? fraction >= 1 : e.step >= e.total_steps;
    if (last || t - this.lastPlainAt >= this.interval) {
      this.lastPlainAt = t;
      this.stream.write(`${counter} (${percent.trim()})  ${stats}  elapsed ${formatDuration(e.elapsed_s)}\n`);
    }
  }
}
