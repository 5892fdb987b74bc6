// Wires the language server onto a connection: capabilities, settings (pulled through
// workspace/configuration into one typed object), dynamic registration of inline completions, and
// the handler table. Handlers live in their own files; this file only connects them.
import {
  DidChangeConfigurationNotification,
  ErrorCodes,
  InlineCompletionRequest,
  ResponseError,
  TextDocumentSyncKind,
  TextDocuments,
  type Connection,
  type Disposable,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver';
import { uriToPath } from './uri-path';
import {
  FillBlanksRequest,
  FinetuneCancelRequest,
  FinetuneProgressNotification,
  FinetuneRequest,
  SetSamplerOptionsRequest,
  UsePreviousModelRequest,
  StatusNotification,
  WriteBeforeRequest,
  type EffectiveSamplerOptions,
} from '../protocol';
import type { EngineLoader } from './engine-adapter';
import { fillBlanks } from './fill-blanks';
import { activeStoreModel, FinetuneJob } from './finetune-job';
import { boundedDocuments } from './document-store';
import type { HandlerContext } from './handler-context';
import { InlineCompletionHandler } from './inline-completion';
import { describeError, type Logger } from './logger';
import { ModelHost, type TimeLimits } from './model-host';
import { toResponseError } from './request-errors';
import { SamplerState } from './sampler-options';
import { DEFAULT_SETTINGS, parseSettings, type Settings } from './settings';
import { StatusReporter } from './status';
import { writeBefore } from './write-before';
import { WorkspaceScope } from './workspace-scope';

export interface ServerOptions {
  /** Model used when `diffill.modelPath` is empty (`--model`, else the shipped model). */
  defaultModelDir: string;
  loader: EngineLoader;
  /** Version reported in serverInfo. */
  version: string;
  /** Python interpreter for fine-tuning from the server's command line (`--python`); requests may name their own. */
  python?: string | undefined;
  /** Time limits of one request per lane (default REQUEST_LIMITS; tests set short ones). */
  timeLimits?: Partial<TimeLimits>;
}

export interface DiffillServer {
  /** Current typed settings (for tests and diagnostics). */
  readonly settings: Settings;
  readonly host: ModelHost;
  /** The model served when diffill.modelPath is empty (the workspace's active fine-tune, else the shipped one). */
  readonly defaultModelDir: string;
  /** The client is gone: stops a fine-tuning job, so no trainer outlives the server. */
  stop(): void;
}

/** Sent by the VS Code client in initializationOptions.finetune; other editors may pass it too. */
interface FinetuneInit {
  workspace?: string;
  storageDir?: string;
}

export function startServer(connection: Connection, options: ServerOptions): DiffillServer {
  const log: Logger = {
    info: (m) => connection.console.info(m),
    warn: (m) => connection.console.warn(m),
    error: (m) => connection.console.error(m),
  };
  // Oversized documents are kept without their text (document-store.ts).
  const documents = new TextDocuments(boundedDocuments);
  const status = new StatusReporter((s) => void connection.sendNotification(StatusNotification, s).catch(() => undefined));
  const host = new ModelHost(options.loader, status, log, options.timeLimits);
  const sampler = new SamplerState();
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const ctx: HandlerContext = { documents, host, settings: () => settings, sampler, log };
  const inline = new InlineCompletionHandler(ctx);

  let pullConfiguration = false;
  let dynamicInline = false;
  let pushedSettings: unknown = undefined;
  let inlineRegistration: Promise<Disposable> | null = null;
  let applying: Promise<void> = Promise.resolve();
  // The workspace's fine-tuned model (if any) replaces the shipped one as the default, once found.
  let defaultModelDir = options.defaultModelDir;
  let storeLocation: FinetuneInit | null = null;
  let storeChecked = false;
  // The folders the editor opened: all a fine-tuning request may name (workspace-scope.ts).
  const scope = new WorkspaceScope();
  let folderChanges = false;
  const finetuneJob = new FinetuneJob({
    scope,
    python: options.python,
    host,
    status,
    log,
    settings: () => settings,
    shippedModelDir: options.defaultModelDir,
    defaultModelDir: () => defaultModelDir,
    setDefaultModelDir: (dir) => {
      defaultModelDir = dir;
    },
    sendProgress: (p) => void connection.sendNotification(FinetuneProgressNotification, p).catch(() => undefined),
  });

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    const caps = params.capabilities;
    pullConfiguration = caps.workspace?.configuration === true;
    dynamicInline = caps.textDocument?.inlineCompletion?.dynamicRegistration === true;
    // Editors without workspace/configuration (or before it answers) may pass settings here.
    const init = params.initializationOptions as { settings?: unknown; finetune?: FinetuneInit } | undefined;
    pushedSettings = init?.settings;
    const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? null;
    const finetuneInit = typeof init?.finetune === 'object' && init.finetune !== null ? init.finetune : undefined;
    const announcedWorkspace = typeof finetuneInit?.workspace === 'string' ? finetuneInit.workspace : undefined;
    const workspace = announcedWorkspace ?? (folder !== null ? uriToPath(folder) : null);
    const storageDir = typeof finetuneInit?.storageDir === 'string' && finetuneInit.storageDir !== '' ? finetuneInit.storageDir : undefined;
    if (workspace !== null) storeLocation = { workspace, ...(storageDir ? { storageDir } : {}) };
    // The editor's word on what is open: its workspace folders (else its root), and the folder and
    // storage of initializationOptions.finetune.
    const rootPath = (params as { rootPath?: unknown }).rootPath;
    scope.add(
      params.workspaceFolders
        ? WorkspaceScope.paths(params.workspaceFolders)
        : [params.rootUri ? uriToPath(params.rootUri) : null, typeof rootPath === 'string' && !params.rootUri ? rootPath : null],
    );
    scope.add([announcedWorkspace]);
    if (workspace !== null && storageDir !== undefined) scope.setStorage(workspace, storageDir);
    folderChanges = caps.workspace?.workspaceFolders === true;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        ...(folderChanges ? { workspace: { workspaceFolders: { supported: true, changeNotifications: true } } } : {}),
        // Registered later (and unregistered when disabled) when the client allows it.
        ...(dynamicInline ? {} : { inlineCompletionProvider: true }),
      },
      serverInfo: { name: 'diffill', version: options.version },
    };
  });

  connection.onInitialized(() => {
    if (folderChanges) {
      connection.workspace.onDidChangeWorkspaceFolders((e) => {
        scope.remove(WorkspaceScope.paths(e.removed));
        scope.add(WorkspaceScope.paths(e.added));
      });
    }
    if (pullConfiguration) {
      void connection.client.register(DidChangeConfigurationNotification.type, { section: 'diffill' }).catch(() => undefined);
    }
    scheduleRefresh();
  });

  connection.onDidChangeConfiguration((change) => {
    const pushed = (change.settings as { diffill?: unknown } | null | undefined)?.diffill;
    if (pushed !== undefined) pushedSettings = pushed;
    scheduleRefresh();
  });

  function scheduleRefresh(): void {
    applying = applying.then(refresh).catch((err: unknown) => log.error(`applying settings failed: ${describeError(err)}`));
  }

  async function refresh(): Promise<void> {
    let raw: unknown = pushedSettings;
    if (pullConfiguration) {
      try {
        raw = await connection.workspace.getConfiguration('diffill');
      } catch (err) {
        log.warn(`workspace/configuration failed, using defaults: ${describeError(err)}`);
      }
    }
    const parsed = parseSettings(raw);
    for (const problem of parsed.problems) log.warn(`ignored setting ${problem}`);
    if (!storeChecked) {
      storeChecked = true;
      if (storeLocation?.workspace !== undefined) {
        try {
          const active = await activeStoreModel(storeLocation.workspace, storeLocation.storageDir, options.defaultModelDir);
          if (active?.source === 'store') {
            defaultModelDir = active.dir;
            log.info(`serving this workspace's fine-tuned model ${active.id}`);
          }
        } catch (err) {
          log.warn(`the workspace's model store could not be read, serving the shipped model: ${describeError(err)}`);
        }
      }
    }
    await apply(parsed.settings);
  }

  async function apply(next: Settings): Promise<void> {
    const before = settings;
    settings = next;
    if (JSON.stringify(before) !== JSON.stringify(next)) inline.cache.clear();
    const modelChanged = await host.configure(next.modelPath.trim() || defaultModelDir, next.threads);
    // Empty: the commands use the ghost-text model.
    await host.configureCommands(next.commandModelPath.trim() || null);
    if (next.enable) {
      if (dynamicInline && inlineRegistration === null) {
        // documentSelector null: the client's own selector (file and untitled documents).
        inlineRegistration = connection.client.register(InlineCompletionRequest.type, { documentSelector: null });
      }
      if (!host.loaded && (modelChanged || status.state !== 'error')) status.update({ state: 'idle', model: null });
    } else {
      if (inlineRegistration !== null) {
        const registration = inlineRegistration;
        inlineRegistration = null;
        (await registration.catch(() => null))?.dispose();
      }
      // Off means off: no model in memory, no work.
      await host.release();
      status.update({ state: 'disabled' });
    }
    status.update({ guidance: sampler.effective(next).guidance });
  }

  const disabledError = () =>
    new ResponseError(ErrorCodes.InvalidRequest, 'Diffill is disabled (setting diffill.enable is false)');

  // A request can arrive right after `initialized`, before the client has answered the first
  // workspace/configuration: without those settings no model is configured yet, so every request
  // first waits for the settings being applied (a no-op once they are).
  connection.languages.inlineCompletion.on(async (params, token) => {
    await applying;
    if (!settings.enable) return null;
    try {
      return await inline.handle(params, token);
    } catch (err) {
      // Ghost text is best effort: an unexpected failure is logged, never shown as a popup.
      log.error(`inline completion failed: ${describeError(err)}`);
      return null;
    }
  });
  connection.onRequest(FillBlanksRequest, async (params, token) => {
    await applying;
    return settings.enable ? fillBlanks(ctx, params, token) : Promise.reject(disabledError());
  });
  connection.onRequest(WriteBeforeRequest, async (params, token) => {
    await applying;
    return settings.enable ? writeBefore(ctx, params, token) : Promise.reject(disabledError());
  });
  connection.onRequest(SetSamplerOptionsRequest, async (params): Promise<EffectiveSamplerOptions> => {
    await applying;
    try {
      sampler.set(params ?? {});
    } catch (err) {
      throw toResponseError('set sampler options', err, log);
    }
    const effective = sampler.effective(settings);
    // Cached completions were made with the old options.
    inline.cache.clear();
    log.info(`sampler options: guidance ${effective.guidance}, temperature ${effective.temperature}, steps ${effective.steps ?? 'default'}`);
    status.update({ guidance: effective.guidance });
    return effective;
  });

  // Requests may leave out the workspace (other editors): then the first folder the editor opened,
  // with the store announced for it. What a request may name is checked by the scope.
  connection.onRequest(FinetuneRequest, async (params, token) => {
    await applying;
    return finetuneJob.run(params, token);
  });
  connection.onRequest(FinetuneCancelRequest, () => ({ cancelled: finetuneJob.cancel() }));
  connection.onRequest(UsePreviousModelRequest, async (params) => {
    await applying;
    return finetuneJob.usePrevious(params);
  });

  documents.onDidClose((e) => inline.forget(e.document.uri));
  connection.onShutdown(async () => {
    finetuneJob.cancel();
    await host.dispose();
  });
  documents.listen(connection);
  return {
    get settings() {
      return settings;
    },
    host,
    get defaultModelDir() {
      return defaultModelDir;
    },
    stop: () => void finetuneJob.cancel(),
  };
}
