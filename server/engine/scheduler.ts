// Requests share one ONNX session, so one runs at a time. A request marked `preempt` first aborts every
// older queued or running request of its group (a newer keystroke makes the older completion useless);
// a running request stops at its next forward.
//
// An `urgent` request (ghost text) runs before every queued one that is not, and takes the session from
// a running one that is not at that request's next forward: the sampler waits at `checkpoint` before
// each forward, so a long Fill Blanks pauses there, the completion runs, and the Fill Blanks resumes
// where it was (its canvas and K/V cache are its own; the session keeps no state between forwards).
// Otherwise requests run in arrival order.
//
// Engines of one process share its CPU cores (the language server may hold a fast model for ghost text
// and a bigger one for the commands): at a checkpoint a request that is not urgent also waits while
// urgent work runs in another engine, so ghost text gets the cores instead of sharing them with a long
// command on the other model. Urgent work never waits for another engine, so nothing waits in a circle.
import type { RequestControl } from './api';
import { AbortError } from './errors';

interface Job {
  group: string | undefined;
  urgent: boolean;
  controller: AbortController;
  start: () => void;
  fail: (err: unknown) => void;
  /** Set while the job waits at a checkpoint for the session to come back. */
  resume: ((err?: unknown) => void) | null;
}

/** The turn of the request a signal belongs to (see `checkpoint`). */
const turns = new WeakMap<AbortSignal, { scheduler: Scheduler; job: Job }>();

/** Urgent requests running now, per scheduler (engine), in this process. */
const urgentRunning = new Map<Scheduler, number>();
/** Requests waiting at a checkpoint for urgent work in another engine to end. */
let waitingForOthers: Array<() => void> = [];

function urgentElsewhere(scheduler: Scheduler): boolean {
  for (const [other, n] of urgentRunning) if (other !== scheduler && n > 0) return true;
  return false;
}

function urgentStarted(scheduler: Scheduler): void {
  urgentRunning.set(scheduler, (urgentRunning.get(scheduler) ?? 0) + 1);
}

function urgentEnded(scheduler: Scheduler): void {
  const n = (urgentRunning.get(scheduler) ?? 1) - 1;
  if (n > 0) urgentRunning.set(scheduler, n);
  else urgentRunning.delete(scheduler);
  const waiting = waitingForOthers;
  waitingForOthers = [];
  for (const wake of waiting) wake();
}

/** Waits while urgent work runs in another engine; rejects when `signal` fires meanwhile. */
async function notWhileUrgentElsewhere(scheduler: Scheduler, signal: AbortSignal): Promise<void> {
  while (urgentElsewhere(scheduler)) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AbortError();
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', wake);
        resolve();
      };
      waitingForOthers.push(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AbortError();
}

/**
 * A point between two forwards where the request of `signal` gives the session to urgent work that
 * is waiting, and gets it back once that is done; a request that is not urgent also waits here while
 * urgent work runs in another engine (see the top of this file). Resolves at once when nothing is
 * waiting or the signal belongs to no scheduler (a direct call of the sampler); rejects when the
 * request is cancelled while it waits.
 */
export async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  const turn = signal !== undefined ? turns.get(signal) : undefined;
  if (turn === undefined) return;
  await turn.scheduler.yieldTo(turn.job);
  if (!turn.job.urgent) await notWhileUrgentElsewhere(turn.scheduler, signal!);
}

export class Scheduler {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  /** The request that gave the session to urgent work; it resumes before any queued request that is not urgent. */
  private paused: Job | null = null;
  private closed = false;

  /** Runs `work` when its turn comes; its signal fires on the caller's abort or on pre-emption. */
  run<T>(control: RequestControl, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new AbortError('the engine was disposed'));
    if (control.preempt && control.group !== undefined) this.preempt(control.group);
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      const job: Job = {
        group: control.group,
        urgent: control.urgent === true,
        controller,
        fail: reject,
        resume: null,
        start: () => {
          if (job.urgent) urgentStarted(this);
          work(controller.signal).then(resolve, reject).finally(() => {
            if (job.urgent) urgentEnded(this);
            control.signal?.removeEventListener('abort', onAbort);
            if (this.running === job) this.running = null;
            if (this.paused === job) this.paused = null;
            this.pump();
          });
        },
      };
      const onAbort = (): void => this.cancel(job, new AbortError());
      if (control.signal?.aborted) {
        reject(new AbortError());
        return;
      }
      control.signal?.addEventListener('abort', onAbort, { once: true });
      turns.set(controller.signal, { scheduler: this, job });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Aborts every queued and running request (used on dispose). */
  close(): void {
    this.closed = true;
    for (const job of this.jobs()) this.cancel(job, new AbortError('the engine was disposed'));
  }

  /** Settles once nothing runs (the running request has seen its abort). */
  async idle(): Promise<void> {
    while (this.running !== null || this.paused !== null || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** See `checkpoint`. */
  yieldTo(job: Job): Promise<void> {
    if (this.running !== job || job.urgent || !this.queue.some((j) => j.urgent)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      job.resume = (err) => {
        job.resume = null;
        if (err === undefined) resolve();
        else reject(err);
      };
      this.paused = job;
      this.running = null;
      this.pump();
    });
  }

  private jobs(): Job[] {
    return [...this.queue, ...(this.running ? [this.running] : []), ...(this.paused ? [this.paused] : [])];
  }

  private preempt(group: string): void {
    for (const job of this.jobs()) {
      if (job.group === group) this.cancel(job, new AbortError('pre-empted by a newer request'));
    }
  }

  private cancel(job: Job, reason: AbortError): void {
    const i = this.queue.indexOf(job);
    if (i !== -1) {
      this.queue.splice(i, 1);
      job.fail(reason);
    } else if (this.running === job) {
      job.controller.abort(reason);
    } else if (this.paused === job) {
      // It holds no session while it waits: it unwinds at once, and the next request may start.
      job.controller.abort(reason);
      this.paused = null;
      job.resume?.(reason);
      this.pump();
    }
  }

  private pump(): void {
    if (this.running !== null) return;
    const urgent = this.queue.findIndex((j) => j.urgent);
    if (urgent !== -1) {
      const [next] = this.queue.splice(urgent, 1);
      this.running = next!;
      next!.start();
      return;
    }
    if (this.paused !== null) {
      const job = this.paused;
      this.paused = null;
      this.running = job;
      job.resume!();
      return;
    }
    const next = this.queue.shift();
    if (next === undefined) return;
    this.running = next;
    next.start();
  }
}
