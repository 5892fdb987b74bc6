// The server's state as the editor shows it (status item, Neovim statusline). Every change is sent
// as one `diffill/status` notification; repeated identical states are not re-sent.
import type { ServerState, StatusParams } from '../protocol';

export type StatusSink = (status: StatusParams) => void;

export class StatusReporter {
  private current: StatusParams = { state: 'idle', model: null, message: null, lastLatencyMs: null, guidance: 0, models: [] };
  private lastSent = '';

  constructor(private readonly sink: StatusSink) {}

  get status(): Readonly<StatusParams> {
    return this.current;
  }

  get state(): ServerState {
    return this.current.state;
  }

  update(change: Partial<StatusParams>): void {
    this.current = { ...this.current, ...change };
    // `message` only describes errors and loading; clear it once the state moves on.
    if (change.state !== undefined && change.message === undefined && change.state !== 'error') this.current.message = null;
    this.flush();
  }

  /** Sends the current status even if unchanged (the client asked, or just connected). */
  resend(): void {
    this.lastSent = '';
    this.flush();
  }

  /**
   * While a fine-tuning job runs the editor shows `training` instead of the serving states (idle,
   * ready, busy): completions keep being served meanwhile, but the job is what the user waits for.
   * Loading, error and disabled still show through.
   */
  setTraining(on: boolean): void {
    this.training = on;
    this.flush();
  }

  private training = false;

  private shown(): StatusParams {
    const serving = this.current.state === 'idle' || this.current.state === 'ready' || this.current.state === 'busy';
    return this.training && serving ? { ...this.current, state: 'training' } : { ...this.current };
  }

  private flush(): void {
    const shown = this.shown();
    const text = JSON.stringify(shown);
    if (text === this.lastSent) return;
    this.lastSent = text;
    this.sink(shown);
  }
}
