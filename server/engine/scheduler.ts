// Requests share one ONNX session, so they run one at a time, in arrival order. A request marked
// `preempt` first aborts every older queued or running request of its group (a newer keystroke makes
// the older completion useless); a running request stops at its next forward.
import type { RequestControl } from './api';
import { AbortError } from './errors';

interface Job {
  group: string | undefined;
  controller: AbortController;
  start: () => void;
  fail: (err: unknown) => void;
}

export class Scheduler {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private closed = false;

  /** Runs `work` when its turn comes; its signal fires on the caller's abort or on pre-emption. */
  run<T>(control: RequestControl, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new AbortError('the engine was disposed'));
    if (control.preempt && control.group !== undefined) this.preempt(control.group);
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      const job: Job = {
        group: control.group,
        controller,
        fail: reject,
        start: () => {
          work(controller.signal).then(resolve, reject).finally(() => {
            control.signal?.removeEventListener('abort', onAbort);
            this.running = null;
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
      this.queue.push(job);
      this.pump();
    });
  }

  /** Aborts every queued and running request (used on dispose). */
  close(): void {
    this.closed = true;
    for (const job of [...this.queue, ...(this.running ? [this.running] : [])]) this.cancel(job, new AbortError('the engine was disposed'));
  }

  /** Settles once nothing runs (the running request has seen its abort). */
  async idle(): Promise<void> {
    while (this.running !== null || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private preempt(group: string): void {
    for (const job of [...this.queue, ...(this.running ? [this.running] : [])]) {
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
    }
  }

  private pump(): void {
    if (this.running !== null) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.running = next;
    next.start();
  }
}
