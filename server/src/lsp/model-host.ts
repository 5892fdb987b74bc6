// Owns the engine: loads the model lazily on first use, unloads it when completions are disabled or
// the model settings change, and runs model requests in two lanes. Commands (Fill Blanks, Write What
// Comes Before) run one after another; inline completions (ghost text) run beside them as the
// engine's urgent requests, which take the session between two forwards of a running command, so a
// long command never keeps ghost text waiting. A newer inline completion pre-empts (aborts) an older
// one; an explicit command pre-empts inline work but is never pre-empted itself. Every request has a
// time limit (REQUEST_LIMITS). A load failure becomes an `error` status, never an exception that
// escapes a handler.
import { REQUEST_LIMITS } from '../protocol';
import { describeError, type Logger } from './logger';
import type { EngineLoader, InfillEngine } from './engine-adapter';
import type { StatusReporter } from './status';

export type Lane = 'inline' | 'command';

/** Wall-clock limit of one request per lane, in ms. */
export type TimeLimits = Record<Lane, number>;

/** A request ran past its time limit and was stopped; the message is for the user. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(readonly limitMs: number) {
    super(`it ran longer than the limit of ${limitMs / 1000} s for one request and was stopped (fewer blanks or fewer steps make it faster)`);
  }
}

/** The model could not be loaded; the message is for the user. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    readonly dir: string,
    readonly causeMessage: string,
  ) {
    // The engine's errors already name the file at fault; the directory is kept in `dir`.
    super(`the model could not be loaded: ${causeMessage}`);
  }
}

/** A request that a newer one replaced. */
export class PreemptedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('pre-empted by a newer request');
  }
}

interface ModelSpec {
  dir: string;
  threads: number;
}

export class ModelHost {
  private spec: ModelSpec | null = null;
  private engine: InfillEngine | null = null;
  private loading: Promise<InfillEngine> | null = null;
  /** The last failed load; not retried until the model settings change (no retry storm per keystroke). */
  private failure: ModelLoadError | null = null;
  /** The last request of each lane: a lane runs its requests one after another. */
  private readonly lanes: Record<Lane, Promise<unknown>> = { inline: Promise.resolve(), command: Promise.resolve() };
  /** Requests holding the engine now (at most one per lane). */
  private active = 0;
  private inlineController: AbortController | null = null;
  private disposed = false;
  private readonly limits: TimeLimits;

  constructor(
    private readonly loader: EngineLoader,
    private readonly status: StatusReporter,
    private readonly log: Logger,
    limits: Partial<TimeLimits> = {},
  ) {
    this.limits = { inline: REQUEST_LIMITS.inlineMs, command: REQUEST_LIMITS.commandMs, ...limits };
  }

  get loaded(): boolean {
    return this.engine !== null;
  }

  /**
   * Sets the model to use; a different directory or thread count unloads the current one and
   * forgets an earlier load failure. Resolves to whether anything changed.
   */
  async configure(dir: string, threads: number): Promise<boolean> {
    if (this.spec !== null && this.spec.dir === dir && this.spec.threads === threads) return false;
    const hadModel = this.spec !== null;
    this.spec = { dir, threads };
    this.failure = null;
    if (hadModel) await this.release();
    return true;
  }

  /**
   * Runs `task` with the engine. `signal` is the caller's cancellation; the task receives a signal
   * that also fires when a newer inline request pre-empts this one, or when the request runs past its
   * lane's time limit (it then fails with RequestTimeoutError).
   */
  async run<T>(lane: Lane, signal: AbortSignal, task: (engine: InfillEngine, signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const forward = () => controller.abort(signal.reason);
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', forward, { once: true });
    // Any new request makes a waiting or running inline completion obsolete.
    this.inlineController?.abort(new PreemptedError());
    if (lane === 'inline') this.inlineController = controller;

    const previous = this.lanes[lane];
    let release!: () => void;
    this.lanes[lane] = new Promise<void>((resolve) => (release = resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    try {
      await previous;
      if (controller.signal.aborted) throw new PreemptedError();
      // The clock starts with the request's turn in its lane (a load of the model included).
      const limitMs = this.limits[lane];
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new RequestTimeoutError(limitMs));
      }, limitMs);
      const engine = await this.acquire();
      if (controller.signal.aborted) throw new PreemptedError();
      this.active++;
      this.status.update({ state: 'busy' });
      const started = performance.now();
      try {
        const result = await task(lane === 'inline' ? urgent(engine) : engine, controller.signal);
        this.status.update({ state: this.active > 1 ? 'busy' : 'ready', lastLatencyMs: Math.round(performance.now() - started) });
        return result;
      } catch (err) {
        if (!this.disposed && this.engine !== null) this.status.update({ state: this.active > 1 ? 'busy' : 'ready' });
        throw err;
      } finally {
        this.active--;
      }
    } catch (err) {
      if (timedOut) throw new RequestTimeoutError(this.limits[lane]);
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', forward);
      if (this.inlineController === controller) this.inlineController = null;
      release();
    }
  }

  /** Settles once every request started so far has finished with the engine. */
  private async settled(): Promise<void> {
    await Promise.all(Object.values(this.lanes).map((p) => p.catch(() => undefined)));
  }

  /** The model directory in use (configured or swapped in), if any. */
  get dir(): string | null {
    return this.spec?.dir ?? null;
  }

  /**
   * Hot swap: loads `dir` while the current engine keeps answering, then points new requests at the
   * new engine and disposes the old one once the requests that may hold it have finished. On a load
   * failure nothing changes (the old engine keeps serving) and the error is thrown. Resolves to the
   * new model's name.
   */
  async swap(dir: string): Promise<string> {
    const threads = this.spec?.threads ?? 0;
    const next = await this.loader(dir, { threads });
    if (this.disposed) {
      await next.dispose();
      throw new ModelLoadError(dir, 'the server is shutting down');
    }
    const old = this.engine;
    // A load of the previous spec still under way sees the spec change and disposes its result.
    this.spec = { dir, threads };
    this.failure = null;
    this.loading = null;
    this.engine = next;
    this.log.info(`model ${next.name} swapped in${old !== null ? ` for ${old.name}` : ''}`);
    this.status.update({ state: 'ready', model: next.name });
    if (old !== null) {
      // Every request queued before this point may run with `old`; later ones get `next`.
      await this.settled();
      try {
        await old.dispose();
        this.log.info(`model ${old.name} unloaded after the swap`);
      } catch (err) {
        this.log.error(`unloading the previous model failed: ${describeError(err)}`);
      }
    }
    return next.name;
  }

  /** Unloads the model and frees its memory; the next request loads it again. */
  async release(): Promise<void> {
    this.inlineController?.abort(new PreemptedError());
    const pending = this.loading;
    this.loading = null;
    const engine = this.engine ?? (pending ? await pending.catch(() => null) : null);
    this.engine = null;
    if (engine !== null) {
      // Wait for a running request to finish with the session before disposing it.
      await this.settled();
      try {
        await engine.dispose();
        this.log.info(`model ${engine.name} unloaded`);
      } catch (err) {
        this.log.error(`unloading the model failed: ${describeError(err)}`);
      }
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.release();
  }

  private async acquire(): Promise<InfillEngine> {
    if (this.engine !== null) return this.engine;
    if (this.failure !== null) throw this.failure;
    if (this.spec === null) throw new ModelLoadError('(none)', 'no model directory is configured');
    if (this.loading === null) this.loading = this.load(this.spec);
    return this.loading;
  }

  private async load(spec: ModelSpec): Promise<InfillEngine> {
    this.status.update({ state: 'loading', message: `loading ${spec.dir}` });
    this.log.info(`loading model ${spec.dir} (threads: ${spec.threads || 'auto'})`);
    const started = performance.now();
    try {
      const engine = await this.loader(spec.dir, { threads: spec.threads });
      if (this.spec !== spec) {
        // Settings changed while loading: this model is already obsolete.
        await engine.dispose();
        throw new ModelLoadError(spec.dir, 'the model settings changed while it was loading');
      }
      this.engine = engine;
      this.loading = null;
      this.log.info(`model ${engine.name} loaded in ${Math.round(performance.now() - started)} ms`);
      this.status.update({ state: 'ready', model: engine.name });
      return engine;
    } catch (err) {
      this.loading = null;
      const failure = err instanceof ModelLoadError ? err : new ModelLoadError(spec.dir, err instanceof Error ? err.message : String(err));
      if (this.spec === spec) {
        this.failure = failure;
        this.log.error(failure.message);
        this.status.update({ state: 'error', message: failure.message });
      }
      throw failure;
    }
  }
}

/** The engine with every request marked urgent (ghost text: see the engine's scheduler). */
function urgent(engine: InfillEngine): InfillEngine {
  return {
    name: engine.name,
    maxPosition: engine.maxPosition,
    infill: (request) => engine.infill({ ...request, urgent: true }),
    fill: (request) => engine.fill({ ...request, urgent: true }),
    before: (request) => engine.before({ ...request, urgent: true }),
    dispose: () => engine.dispose(),
  };
}
