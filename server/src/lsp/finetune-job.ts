// The fine-tuning job inside the language server. The server runs it because it owns the model host:
// when the job succeeds the new model is hot-swapped in while completions keep being served. One job
// at a time; progress goes out as `diffill/finetune/progress`, the status shows `training`, and a
// failure of any kind leaves the served model as it was.
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCodes, LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver';
import { finetune, FinetuneError } from '../../training/finetune';
import { defaultStoreRoot, ModelStore, ModelStoreError, type ActiveModel } from '../../training/model-store';
import type { Budget, Device } from '../../training/orchestrator';
import { formatCount, formatDuration } from '../../training/progress-bar';
import { TrainerError } from '../../training/trainer-error';
import type { FinetuneParams, FinetuneProgressParams, FinetuneResult, UsePreviousModelParams, UsePreviousModelResult } from '../protocol';
import { describeError, type Logger } from './logger';
import type { ModelHost } from './model-host';
import type { Settings } from './settings';
import type { StatusReporter } from './status';
import type { WorkspaceScope } from './workspace-scope';

export interface FinetuneJobDeps {
  host: ModelHost;
  status: StatusReporter;
  log: Logger;
  settings: () => Settings;
  /** The shipped model: what the store falls back to. */
  shippedModelDir: string;
  /** The model served when `diffill.modelPath` is empty (the store's active model, else the shipped one). */
  defaultModelDir: () => string;
  /** Records a new default model (after an install or a rollback). */
  setDefaultModelDir: (dir: string) => void;
  sendProgress: (progress: FinetuneProgressParams) => void;
  /** Least milliseconds between two step notifications (default 250). */
  progressIntervalMs?: number;
  /** The folders the client opened: what requests may name (workspace-scope.ts). */
  scope: WorkspaceScope;
  /**
   * The interpreter given on the server's command line (`diffill lsp --python`), used when a request
   * names none. Never a setting read through workspace/configuration: an editor may answer that
   * from the workspace's own files, and the interpreter is a program the server runs.
   */
  python?: string | undefined;
}

const DEVICES: readonly string[] = ['auto', 'cpu', 'cuda'];

/** Where a workspace's models live: the editor's storage when it gave one, else the CLI's default. */
export async function storeRootFor(workspace: string, storageDir: string | undefined): Promise<string> {
  return storageDir !== undefined && storageDir !== '' ? storageDir : defaultStoreRoot(workspace);
}

/**
 * The model a workspace's store says to serve, or null when there is no store yet (a store is never
 * created just by starting the server).
 */
export async function activeStoreModel(workspace: string, storageDir: string | undefined, shippedModelDir: string): Promise<ActiveModel | null> {
  const root = await storeRootFor(workspace, storageDir);
  if (!existsSync(root)) return null;
  const store = await ModelStore.open(root, { baseModelDir: shippedModelDir, workspace });
  return store.active();
}

export class FinetuneJob {
  private running: AbortController | null = null;

  constructor(private readonly deps: FinetuneJobDeps) {}

  get busy(): boolean {
    return this.running !== null;
  }

  /** Stops the running job; false when none runs. */
  cancel(): boolean {
    if (this.running === null) return false;
    this.deps.log.info('fine-tuning: cancel requested');
    this.running.abort();
    return true;
  }

  async run(params: FinetuneParams, token?: CancellationToken): Promise<FinetuneResult> {
    if (this.running !== null) throw new ResponseError(ErrorCodes.InvalidRequest, 'a fine-tuning job is already running (cancel it first)');
    const controller = new AbortController();
    this.running = controller;
    const onCancel = token?.onCancellationRequested(() => controller.abort());
    const { host, status, log, scope } = this.deps;
    let training = false;
    // A store folder this request made; removed again if the request fails before installing anything.
    let createdRoot: string | null = null;
    try {
      const settings = this.deps.settings();
      // Everything the request names is checked before anything is created, read or run.
      const request = checkParams(params, settings);
      const { workspace, storageDir } = await scope.check('fine-tune', params);
      const facts = params.facts !== undefined && params.facts !== null && params.facts !== '' ? await scope.facts('fine-tune', params.facts, workspace) : undefined;
      status.setTraining(true);
      training = true;
      const pinned = settings.modelPath.trim();
      const base = host.dir ?? (pinned || this.deps.defaultModelDir());
      const root = await storeRootFor(workspace, storageDir);
      if (!existsSync(root)) createdRoot = root;
      const store = await ModelStore.open(root, { baseModelDir: this.deps.shippedModelDir, workspace });
      log.info(`fine-tuning ${base} on ${facts ?? workspace} (store ${root})`);
      // The request's interpreter (the VS Code client sends the user-level setting), else the server's
      // --python, else the defaults (DIFFILL_PYTHON, the package's .venv, python3 on PATH).
      const python = request.python ?? this.deps.python;
      const progress = this.progressSender();
      const result = await finetune(
        {
          workspace,
          base,
          budget: request.budget,
          device: request.device,
          ...(python ? { python } : {}),
          ...(facts !== undefined ? { facts } : {}),
          ...(params.filesExclude ? { filesExclude: params.filesExclude } : {}),
          ...(params.batchSize !== undefined ? { batchSize: params.batchSize } : {}),
        },
        store,
        {
          signal: controller.signal,
          onPhase: (phase, message) => {
            log.info(`fine-tuning: ${message}`);
            progress.phase(phase, message);
          },
          onProgress: (event) => progress.event(event),
          onLog: (line, stream) => {
            if (stream === 'stderr') log.info(`trainer: ${line}`);
          },
          onPython: (p) => log.info(`fine-tuning with Python ${p.pythonVersion} (${p.executable}), torch ${p.torchVersion}${p.cudaAvailable ? ', CUDA' : ''}`),
          onData: (d) =>
            log.info(
              `fine-tuning data: ${d.files} files, ${d.tokens ?? '?'} tokens (${d.valFiles} held out); skipped ` +
                (Object.entries(d.skipped).map(([why, g]) => `${why} ${g?.count ?? 0}`).join(', ') || 'nothing'),
            ),
        },
      );
      log.info(`fine-tuned model installed as ${result.version.id}: held-out loss ${result.baseEval.valLoss.toFixed(4)} -> ${result.candidateEval.valLoss.toFixed(4)}`);
      let served = false;
      if (pinned === '') {
        progress.phase('swap', 'switching to the fine-tuned model');
        served = await this.serve(result.version.dir, store);
      } else {
        log.warn(`the fine-tuned model is installed but not served: diffill.modelPath pins ${pinned}`);
      }
      return {
        model: result.version.id,
        modelDir: result.version.dir,
        reportPath: result.reportPath,
        baseValLoss: result.baseEval.valLoss,
        valLoss: result.candidateEval.valLoss,
        steps: result.trainer.done.steps,
        served,
      };
    } catch (err) {
      if (createdRoot !== null) await removeUnusedStore(createdRoot);
      throw this.toResponseError(err);
    } finally {
      onCancel?.dispose();
      this.running = null;
      if (training) status.setTraining(false);
    }
  }

  /** "Use Previous Model": the store's rollback, then a hot swap back. */
  async usePrevious(params: UsePreviousModelParams): Promise<UsePreviousModelResult> {
    if (this.running !== null) throw new ResponseError(ErrorCodes.InvalidRequest, 'a fine-tuning job is running; cancel it first');
    const { workspace, storageDir } = await this.deps.scope.check('use previous model', params ?? {});
    try {
      const root = await storeRootFor(workspace, storageDir);
      if (!existsSync(root)) throw new ModelStoreError('nothing_to_roll_back', 'this workspace has no fine-tuned models: the base model is already in use');
      const store = await ModelStore.open(root, { baseModelDir: this.deps.shippedModelDir, workspace });
      const active = await store.rollback();
      const dir = active.dir ?? this.deps.shippedModelDir;
      this.deps.setDefaultModelDir(dir);
      const settings = this.deps.settings();
      let model = basename(dir);
      if (settings.modelPath.trim() === '') {
        if (settings.enable) model = await this.deps.host.swap(dir);
        else await this.deps.host.configure(dir, settings.threads);
      }
      this.deps.log.info(`now serving the previous model ${model}`);
      return { model, modelDir: dir };
    } catch (err) {
      throw this.toResponseError(err);
    }
  }

  /** Serves the installed model; if even that fails, the store goes back so it names what is served. */
  private async serve(dir: string, store: ModelStore): Promise<boolean> {
    const { host, settings } = this.deps;
    const previous = this.deps.defaultModelDir();
    // The default first: a settings refresh during the swap must not configure the old model back.
    this.deps.setDefaultModelDir(dir);
    try {
      if (settings().enable) await host.swap(dir);
      else await host.configure(dir, settings().threads);
      return true;
    } catch (err) {
      this.deps.setDefaultModelDir(previous);
      await store.rollback().catch(() => undefined);
      throw new FinetuneError('probe_failed', `the fine-tuned model was installed but could not be served, so it was rolled back: ${describeError(err)}`);
    }
  }

  private progressSender() {
    const interval = this.deps.progressIntervalMs ?? 250;
    let lastAt = -Infinity;
    const send = this.deps.sendProgress;
    const blank = { step: null, totalSteps: null, loss: null, tokensPerSecond: null, etaSeconds: null };
    return {
      phase: (phase: FinetuneProgressParams['phase'], message: string) => send({ phase, message, ...blank }),
      event: (e: import('../../training/trainer-process').TrainerEvent) => {
        if (e.event === 'start') {
          send({ phase: 'train', message: `training on ${e.device}`, ...blank, totalSteps: e.total_steps });
        } else if (e.event === 'step') {
          const now = Date.now();
          if (now - lastAt < interval && e.step < e.total_steps) return;
          lastAt = now;
          const loss = e.loss === null ? 'nan' : e.loss.toFixed(3);
          send({
            phase: 'train',
            message: `step ${e.step}/${e.total_steps} · loss ${loss} · ${formatCount(e.tokens_per_s)} tok/s · ETA ${formatDuration(e.eta_s)}`,
            step: e.step,
            totalSteps: e.total_steps,
            loss: e.loss,
            tokensPerSecond: e.tokens_per_s,
            etaSeconds: e.eta_s,
          });
        } else if (e.event === 'export') {
          send({ phase: 'train', message: `exporting the model (${e.stage})`, ...blank });
        }
      },
    };
  }

  private toResponseError(err: unknown): ResponseError<{ kind: string }> {
    if (err instanceof ResponseError) return err as ResponseError<{ kind: string }>;
    const kind = err instanceof FinetuneError || err instanceof TrainerError || err instanceof ModelStoreError ? err.kind : err instanceof Error ? err.name : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    if (kind === 'cancelled') {
      this.deps.log.info(`fine-tuning: ${message}`);
      return new ResponseError(LSPErrorCodes.RequestCancelled, message, { kind });
    }
    this.deps.log.error(`fine-tuning failed: ${describeError(err)}`);
    return new ResponseError(ErrorCodes.InternalError, message, { kind });
  }
}

/**
 * Removes a store folder that a failed request created, unless something was installed in it
 * meanwhile: a refused or failed fine-tune leaves no trace.
 */
async function removeUnusedStore(root: string): Promise<void> {
  const versions = await readdir(join(root, 'versions')).catch(() => [] as string[]);
  if (versions.length > 0 || existsSync(join(root, 'active.json'))) return;
  await rm(root, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Checks the request's options; the budget and device default to the diffill.finetune* settings.
 * The paths it names are WorkspaceScope's to check.
 */
function checkParams(p: FinetuneParams, settings: Settings): { budget: Budget; device: Device; python: string | undefined } {
  const bad = (m: string): never => {
    throw new ResponseError(ErrorCodes.InvalidParams, `fine-tune: ${m}`);
  };
  if (p === null || typeof p !== 'object') bad('expected an object of parameters');
  if (p.python !== undefined && p.python !== null && typeof p.python !== 'string') bad(`python must be a path, got ${JSON.stringify(p.python)}`);
  const python = typeof p.python === 'string' && p.python.trim() !== '' ? p.python.trim() : undefined;
  let budget: Budget = settings.finetuneSteps > 0 ? { steps: settings.finetuneSteps } : { minutes: settings.finetuneMinutes };
  if (p.steps !== undefined && p.steps !== null && p.steps !== 0) {
    if (!Number.isInteger(p.steps) || p.steps < 0) bad(`steps must be a positive integer, got ${p.steps}`);
    budget = { steps: p.steps };
  } else if (p.minutes !== undefined && p.minutes !== null) {
    if (!(typeof p.minutes === 'number' && Number.isFinite(p.minutes) && p.minutes > 0)) bad(`minutes must be a positive number, got ${p.minutes}`);
    budget = { minutes: p.minutes };
  }
  const device = (p.device ?? settings.finetuneDevice) as Device;
  if (!DEVICES.includes(device)) bad(`device must be one of ${DEVICES.join(', ')}, got ${device}`);
  if (p.batchSize !== undefined && !(Number.isInteger(p.batchSize) && p.batchSize > 0)) bad(`batchSize must be a positive integer, got ${p.batchSize}`);
  return { budget, device, python };
}
