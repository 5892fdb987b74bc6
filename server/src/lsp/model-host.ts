// Owns the engines: loads each model lazily on first use, unloads them when completions are disabled
// or the model settings change, and runs model requests in two lanes. Commands (Fill Blanks, Write
// What Comes Before) run one after another; inline completions (ghost text) run beside them. The
// commands may have a model of their own (`diffill.commandModelPath`: a bigger, slower one), loaded
// on the first command and kept beside the ghost-text model; by default both lanes share one model.
// Inline completions run as the engine's urgent requests, which take the session between two
// forwards of a running command (or, with two models, hold the command's next forward until they are
// done, so they get the CPU cores), so a long command never keeps ghost text waiting. A newer inline
// completion pre-empts (aborts) an older one; an explicit command pre-empts inline work but is never
// pre-empted itself. Every request has a time limit (REQUEST_LIMITS). A load failure becomes an
// `error` status, never an exception that escapes a handler. What each model costs (its size and the
// median latency of its recent requests per lane) goes into the status.
import { REQUEST_LIMITS, type ModelRole, type RoleStatus } from '../protocol';
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

/** One loaded (or loadable) model. */
class Slot {
  spec: ModelSpec | null = null;
  engine: InfillEngine | null = null;
  loading: Promise<InfillEngine> | null = null;
  /** The last failed load; not retried until the model settings change (no retry storm per keystroke). */
  failure: ModelLoadError | null = null;

  constructor(readonly role: ModelRole) {}
}

/** Latencies kept per lane for the status: the median of the last this many requests. */
export const LATENCY_WINDOW = 20;

const LANE_ROLE: Record<Lane, ModelRole> = { inline: 'ghost', command: 'commands' };

function basename(dir: string): string {
  return dir.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? dir;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = xs.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

export class ModelHost {
  /** The ghost-text model; also the commands' model unless they have their own. */
  private readonly ghost = new Slot('ghost');
  /** The commands' own model; its spec is null while the commands share the ghost-text model. */
  private readonly commands = new Slot('commands');
  /** Latencies (ms) of the recent finished requests of each lane, oldest first. */
  private readonly latencies: Record<Lane, number[]> = { inline: [], command: [] };
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

  /** Whether the ghost-text model is loaded. */
  get loaded(): boolean {
    return this.ghost.engine !== null;
  }

  /**
   * Sets the ghost-text model (and the commands' model while they share it); a different directory
   * or thread count unloads the current one and forgets an earlier load failure. The commands' own
   * model follows the thread count. Resolves to whether anything changed.
   */
  async configure(dir: string, threads: number): Promise<boolean> {
    const own = this.commands.spec;
    if (own !== null && own.threads !== threads) await this.respec(this.commands, { dir: own.dir, threads });
    if (this.ghost.spec !== null && this.ghost.spec.dir === dir && this.ghost.spec.threads === threads) return false;
    this.forgetLatency(this.commands.spec === null ? ['inline', 'command'] : ['inline']);
    await this.respec(this.ghost, { dir, threads });
    this.pushCosts();
    return true;
  }

  /**
   * Sets the commands' model: null (or the ghost-text model's own directory) shares the ghost-text
   * model; another directory is loaded on the first command and kept beside it. Resolves to whether
   * anything changed.
   */
  async configureCommands(dir: string | null): Promise<boolean> {
    const threads = this.ghost.spec?.threads ?? 0;
    const next = dir === null || dir === '' || dir === this.ghost.spec?.dir ? null : { dir, threads };
    const now = this.commands.spec;
    if (next === null ? now === null : now !== null && now.dir === next.dir && now.threads === next.threads) return false;
    this.forgetLatency(['command']);
    await this.respec(this.commands, next);
    this.pushCosts();
    return true;
  }

  /** Points a slot at a new spec, unloading what it held. */
  private async respec(slot: Slot, spec: ModelSpec | null): Promise<void> {
    const hadModel = slot.spec !== null;
    slot.spec = spec;
    slot.failure = null;
    if (!hadModel) return;
    // Inline work on the ghost-text model is obsolete with it (as a release of every model makes it).
    if (slot === this.ghost) this.inlineController?.abort(new PreemptedError());
    await this.releaseSlot(slot);
  }

  private forgetLatency(lanes: readonly Lane[]): void {
    for (const lane of lanes) this.latencies[lane] = [];
  }

  /** The slot whose model serves a lane. */
  private slotFor(lane: Lane): Slot {
    return lane === 'command' && this.commands.spec !== null ? this.commands : this.ghost;
  }

  /** What each lane's model is and costs: its name, size and the median latency of its recent requests. */
  costs(): RoleStatus[] {
    return (['inline', 'command'] as const).map((lane) => {
      const slot = this.slotFor(lane);
      const xs = this.latencies[lane];
      return {
        role: LANE_ROLE[lane],
        model: slot.engine?.name ?? (slot.spec !== null ? basename(slot.spec.dir) : null),
        shared: lane === 'command' && slot === this.ghost,
        loaded: slot.engine !== null,
        params: slot.engine?.params ?? null,
        medianLatencyMs: median(xs),
        requests: xs.length,
      };
    });
  }

  private pushCosts(): void {
    this.status.update({ models: this.costs() });
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
      const slot = this.slotFor(lane);
      const engine = await this.acquire(slot);
      if (controller.signal.aborted) throw new PreemptedError();
      this.active++;
      this.status.update({ state: 'busy' });
      const started = performance.now();
      try {
        // Urgent only matters where both lanes share one session; marking it anyway costs nothing.
        const result = await task(lane === 'inline' ? urgent(engine) : engine, controller.signal);
        const ms = Math.round(performance.now() - started);
        // A model swapped out meanwhile measured nothing about the one in the slot now.
        if (slot.engine === engine) {
          const xs = this.latencies[lane];
          xs.push(ms);
          if (xs.length > LATENCY_WINDOW) xs.shift();
        }
        this.status.update({ state: this.active > 1 ? 'busy' : 'ready', lastLatencyMs: ms, models: this.costs() });
        return result;
      } catch (err) {
        if (!this.disposed && slot.engine !== null) this.status.update({ state: this.active > 1 ? 'busy' : 'ready' });
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

  /** The ghost-text model directory in use (configured or swapped in), if any. */
  get dir(): string | null {
    return this.ghost.spec?.dir ?? null;
  }

  /** The commands' own model directory; null while they share the ghost-text model. */
  get commandDir(): string | null {
    return this.commands.spec?.dir ?? null;
  }

  /**
   * Hot swap of one role's model (default: the ghost-text model, which the commands follow while they
   * share it): loads `dir` while the current engine keeps answering, then points new requests at the
   * new engine and disposes the old one once the requests that may hold it have finished. On a load
   * failure nothing changes (the old engine keeps serving) and the error is thrown. Resolves to the
   * new model's name.
   */
  async swap(dir: string, role: ModelRole = 'ghost'): Promise<string> {
    const slot = role === 'commands' ? this.commands : this.ghost;
    const threads = this.ghost.spec?.threads ?? 0;
    const next = await this.loader(dir, { threads });
    if (this.disposed) {
      await next.dispose();
      throw new ModelLoadError(dir, 'the server is shutting down');
    }
    const old = slot.engine;
    // A load of the previous spec still under way sees the spec change and disposes its result.
    slot.spec = { dir, threads };
    slot.failure = null;
    slot.loading = null;
    slot.engine = next;
    this.forgetLatency(role === 'commands' ? ['command'] : this.commands.spec === null ? ['inline', 'command'] : ['inline']);
    this.log.info(`${role === 'commands' ? 'command ' : ''}model ${next.name} swapped in${old !== null ? ` for ${old.name}` : ''}`);
    this.status.update({ state: 'ready', ...(role === 'ghost' ? { model: next.name } : {}), models: this.costs() });
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

  /** Unloads the models and frees their memory; the next request loads them again. */
  async release(): Promise<void> {
    this.inlineController?.abort(new PreemptedError());
    await this.releaseSlot(this.ghost);
    await this.releaseSlot(this.commands);
    if (!this.disposed) this.pushCosts();
  }

  private async releaseSlot(slot: Slot): Promise<void> {
    const pending = slot.loading;
    slot.loading = null;
    const engine = slot.engine ?? (pending ? await pending.catch(() => null) : null);
    slot.engine = null;
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

  private async acquire(slot: Slot): Promise<InfillEngine> {
    if (slot.engine !== null) return slot.engine;
    if (slot.failure !== null) throw slot.failure;
    if (slot.spec === null) throw new ModelLoadError('(none)', 'no model directory is configured');
    if (slot.loading === null) slot.loading = this.load(slot, slot.spec);
    return slot.loading;
  }

  private async load(slot: Slot, spec: ModelSpec): Promise<InfillEngine> {
    const what = slot.role === 'commands' ? 'command model' : 'model';
    this.status.update({ state: 'loading', message: `loading ${spec.dir}` });
    this.log.info(`loading ${what} ${spec.dir} (threads: ${spec.threads || 'auto'})`);
    const started = performance.now();
    try {
      const engine = await this.loader(spec.dir, { threads: spec.threads });
      if (slot.spec !== spec) {
        // Settings changed while loading: this model is already obsolete.
        await engine.dispose();
        throw new ModelLoadError(spec.dir, 'the model settings changed while it was loading');
      }
      slot.engine = engine;
      slot.loading = null;
      this.log.info(`${what} ${engine.name} loaded in ${Math.round(performance.now() - started)} ms`);
      // `model` names the ghost-text model (the one the editor's inline completions come from).
      this.status.update({ state: 'ready', ...(slot.role === 'ghost' ? { model: engine.name } : {}), models: this.costs() });
      return engine;
    } catch (err) {
      slot.loading = null;
      const failure = err instanceof ModelLoadError ? err : new ModelLoadError(spec.dir, err instanceof Error ? err.message : String(err));
      if (slot.spec === spec) {
        slot.failure = failure;
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
    params: engine.params,
    infill: (request) => engine.infill({ ...request, urgent: true }),
    fill: (request) => engine.fill({ ...request, urgent: true }),
    before: (request) => engine.before({ ...request, urgent: true }),
    dispose: () => engine.dispose(),
  };
}
