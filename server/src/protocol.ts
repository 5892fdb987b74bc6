// Diffill's custom LSP messages, declared once and imported by both the server (server/src/lsp)
// and the VS Code client (client/src). Neovim and other editors call the same method names
// (see docs/editors.md). This file may import only protocol types and the bounds of user-given
// numbers (limits.ts), so both bundles stay small.
import { SAMPLER_BOUNDS, SETTING_BOUNDS, type Bound } from './limits';
import {
  NotificationType,
  RequestType,
  type Range,
  type TextDocumentIdentifier,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol';

// ---- Fill blanks ---------------------------------------------------------------------------

export interface FillBlanksParams {
  textDocument: TextDocumentIdentifier;
  /**
   * Explicit blanks: selections are replaced, empty ranges (multi-cursor positions) are
   * insertion points. When absent or empty, every run of 3 or more underscores is a blank.
   */
  ranges?: Range[];
}

export interface FilledBlank {
  /** The blank in the document as it was when the request was made. */
  range: Range;
  /** What the model wrote there. */
  text: string;
}

export interface FillBlanksResult {
  /** One text edit per blank, against the document version the request saw. */
  edit: WorkspaceEdit;
  blanks: FilledBlank[];
  /** Document version the edit applies to (null when the server does not track it). */
  version: number | null;
  latencyMs: number;
}

export const FillBlanksRequest = new RequestType<FillBlanksParams, FillBlanksResult, void>('diffill/fillBlanks');

// ---- Write before ----------------------------------------------------------------------------

export interface WriteBeforeParams {
  textDocument: TextDocumentIdentifier;
  /** Zero-based line: the text is written above it, conditioned on this line and what follows. */
  line: number;
}

export interface WriteBeforeResult {
  /** The written text, ending with a line break so the anchor line stays on its own line. */
  text: string;
  /** Inserts `text` at the start of `line`. */
  edit: WorkspaceEdit;
  version: number | null;
  latencyMs: number;
}

export const WriteBeforeRequest = new RequestType<WriteBeforeParams, WriteBeforeResult, void>('diffill/writeBefore');

// ---- Sampler options -------------------------------------------------------------------------

/** Session overrides of the configured sampler; a null field returns to the configured value. */
export interface SamplerOverrides {
  /** Classifier-free guidance strength (0 = off). */
  guidance?: number | null;
  /** 0 = greedy; > 0 samples at this temperature. */
  temperature?: number | null;
  /** Most reverse-diffusion steps per request. */
  steps?: number | null;
}

/** The sampler values now in force (after overrides). */
export interface EffectiveSamplerOptions {
  guidance: number;
  temperature: number;
  steps: number | null;
}

export const SetSamplerOptionsRequest = new RequestType<SamplerOverrides, EffectiveSamplerOptions, void>(
  'diffill/setSamplerOptions',
);

// ---- Status ----------------------------------------------------------------------------------

export type ServerState = 'disabled' | 'idle' | 'loading' | 'ready' | 'busy' | 'training' | 'error';

/** What a model serves: ghost text (inline completions) or the commands (Fill Blanks, Write What Comes Before). */
export type ModelRole = 'ghost' | 'commands';

/** The model serving one role and what it costs. */
export interface RoleStatus {
  role: ModelRole;
  /** Model directory name (known before it is loaded); null when none is configured. */
  model: string | null;
  /** The commands' entry only: true when they use the ghost-text model (`diffill.commandModelPath` empty). */
  shared: boolean;
  loaded: boolean;
  /** Parameters of the model, once loaded (null: not loaded yet, or its config does not say). */
  params: number | null;
  /** Median wall-clock latency of this role's recent requests (the last 20), in ms; null: not yet measured. */
  medianLatencyMs: number | null;
  /** How many requests the median is over. */
  requests: number;
}

export interface StatusParams {
  state: ServerState;
  /** Ghost-text model directory name, once known. */
  model: string | null;
  /** Human-readable detail (the error message in state `error`). */
  message: string | null;
  /** Wall-clock latency of the last finished model request, in ms. */
  lastLatencyMs: number | null;
  /** Guidance strength in force. */
  guidance: number;
  /** The ghost-text model and the commands' model, in that order, with what each costs. */
  models: RoleStatus[];
}

export const StatusNotification = new NotificationType<StatusParams>('diffill/status');

// ---- Fine-tuning -------------------------------------------------------------------------------

/**
 * Starts fine-tuning the served model on a workspace folder (or a facts file). The language server
 * runs the job (one at a time) and answers when it is over: the fine-tuned model is then installed
 * and served. Cancel with `diffill/finetune/cancel` or by cancelling this request.
 */
export interface FinetuneParams {
  /**
   * Workspace folder (an absolute path): its text is the training data, and its models are kept
   * apart. It must be a folder the editor opened (workspace folders of initialize or of
   * workspace/didChangeWorkspaceFolders) or lie inside one; absent: the first such folder.
   */
  workspace: string;
  /**
   * Where this workspace's models are stored (the editor's per-workspace storage); never inside the
   * workspace. Only the storage folder announced in initializationOptions.finetune is accepted.
   */
  storageDir?: string;
  /**
   * Python interpreter (the VS Code client sends the user-level setting only); absent or empty: the
   * server's `--python`, then DIFFILL_PYTHON, the package's .venv, python3 on PATH. Never read from
   * settings the server pulls (an editor may answer those from workspace files).
   */
  python?: string;
  /** Optimizer steps; takes precedence over `minutes`. */
  steps?: number;
  /** Wall-clock budget of the training. */
  minutes?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  /** Facts mode: each non-empty line of this file (relative paths: to the workspace) is one training example; it must lie inside an open folder. */
  facts?: string;
  /** The workspace's `files.exclude` setting. */
  filesExclude?: Record<string, boolean | { when: string }>;
  /** Trainer batch size (default: the trainer's). */
  batchSize?: number;
}

export interface FinetuneResult {
  /** Name of the model now served (the installed version). */
  model: string;
  /** Its directory. */
  modelDir: string;
  /** The markdown report (before/after figures, loss curve, data summary). */
  reportPath: string;
  baseValLoss: number;
  valLoss: number;
  steps: number;
  /** False when the model was installed but not served (e.g. `diffill.modelPath` pins another model). */
  served: boolean;
}

export const FinetuneRequest = new RequestType<FinetuneParams, FinetuneResult, void>('diffill/finetune');

/** Stops the running fine-tuning job; resolves to whether one was running. */
export const FinetuneCancelRequest = new RequestType<Record<string, never> | null, { cancelled: boolean }, void>('diffill/finetune/cancel');

export type FinetunePhase = 'data' | 'train' | 'evaluate' | 'verify' | 'install' | 'swap';

/** Progress of the running job, sent while `diffill/finetune` is pending. */
export interface FinetuneProgressParams {
  phase: FinetunePhase;
  /** One line for humans ("step 12/40 · loss 5.10 · 4.3k tok/s · ETA 10s"). */
  message: string;
  step: number | null;
  totalSteps: number | null;
  loss: number | null;
  tokensPerSecond: number | null;
  etaSeconds: number | null;
}

export const FinetuneProgressNotification = new NotificationType<FinetuneProgressParams>('diffill/finetune/progress');

/** Goes back to the model served before the current one (the previous fine-tune, or the base model). */
export interface UsePreviousModelParams {
  workspace: string;
  storageDir?: string;
}

export interface UsePreviousModelResult {
  /** Name of the model now served. */
  model: string;
  modelDir: string;
}

export const UsePreviousModelRequest = new RequestType<UsePreviousModelParams, UsePreviousModelResult, void>('diffill/usePreviousModel');

// ---- Limits ------------------------------------------------------------------------------------

/**
 * What one request may ask of the server. A request over a limit is refused with InvalidParams
 * before any model work; a request that runs past its time is stopped with RequestFailed.
 */
export const REQUEST_LIMITS = Object.freeze({
  /** Blanks one Fill Blanks request fills: its explicit ranges, or the document's `___` runs. */
  blanks: 64,
  /** Wall-clock time of one Fill Blanks or Write What Comes Before request. */
  commandMs: 30_000,
  /** Wall-clock time of one inline completion (ghost text later than this is of no use). */
  inlineMs: 10_000,
});

// ---- Parameter schemas -------------------------------------------------------------------------
// The server checks the params of every message it handles against these before a handler runs: a
// request that does not fit is answered with InvalidParams (-32602) naming the field, a notification
// that does not fit is dropped with a log line. Plain data (a small subset of JSON Schema), so the
// client bundle pays nothing for it. Objects always accept fields not listed (the LSP grows).

export type Schema = (
  | { type: 'string'; enum?: readonly string[] }
  | { type: 'integer' | 'number'; minimum: number; maximum: number }
  | { type: 'boolean' }
  | { type: 'array'; items: Schema; maxItems: number }
  | { type: 'object'; properties: Readonly<Record<string, Schema>>; values?: Schema }
  | { type: 'anyOf'; anyOf: readonly Schema[] }
  | { type: 'any' }
) & {
  /** The field may be left out of its object. */
  optional?: boolean;
  /** The value may be null (for a message's params: also left out). */
  nullable?: boolean;
};

/**
 * An object schema whose properties are exactly the fields of `T`, each optional or nullable where
 * `T` says so (a schema may also accept an absent or null field that the handler tolerates): a field
 * added to an interface above without its check fails the type-check.
 */
export type ObjectSchema<T> = {
  type: 'object';
  properties: {
    [K in keyof T]-?: Schema & (undefined extends T[K] ? { optional: true } : unknown) & (null extends T[K] ? { nullable: true } : unknown);
  };
  nullable?: boolean;
};

/** LSP's `uinteger`. */
const UINTEGER = { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 } as const;
const STRING = { type: 'string' } as const;
const POSITION = { type: 'object', properties: { line: UINTEGER, character: UINTEGER } } as const satisfies ObjectSchema<Range['start']>;
const RANGE = { type: 'object', properties: { start: POSITION, end: POSITION } } as const satisfies ObjectSchema<Range>;
const TEXT_DOCUMENT = { type: 'object', properties: { uri: STRING } } as const satisfies ObjectSchema<TextDocumentIdentifier>;
const WORKSPACE_FOLDERS = { type: 'array', maxItems: 10_000, items: { type: 'object', properties: { uri: STRING, name: STRING } } } as const;
/** A number within `b`, optional and nullable (a sampler override, a fine-tuning option). */
const bound = (b: Bound) => ({ type: b.integer ? 'integer' : 'number', minimum: b.min, maximum: b.max, optional: true, nullable: true }) as const;

const fillBlanksParams = {
  type: 'object',
  properties: { textDocument: TEXT_DOCUMENT, ranges: { type: 'array', items: RANGE, maxItems: REQUEST_LIMITS.blanks, optional: true } },
} as const satisfies ObjectSchema<FillBlanksParams>;

const writeBeforeParams = {
  type: 'object',
  properties: { textDocument: TEXT_DOCUMENT, line: UINTEGER },
} as const satisfies ObjectSchema<WriteBeforeParams>;

const samplerOverrides = {
  type: 'object',
  nullable: true,
  properties: {
    guidance: bound(SAMPLER_BOUNDS.guidance),
    temperature: bound(SAMPLER_BOUNDS.temperature),
    steps: bound(SAMPLER_BOUNDS.steps),
  },
} as const satisfies ObjectSchema<SamplerOverrides>;

const optionalPath = { type: 'string', optional: true, nullable: true } as const;

// The fine-tuning budget within the bounds of the diffill.finetuneSteps / diffill.finetuneMinutes settings.
const finetuneParams = {
  type: 'object',
  properties: {
    workspace: optionalPath,
    storageDir: optionalPath,
    python: optionalPath,
    steps: bound(SETTING_BOUNDS.finetuneSteps),
    minutes: bound(SETTING_BOUNDS.finetuneMinutes),
    device: { type: 'string', enum: ['auto', 'cpu', 'cuda'], optional: true, nullable: true },
    facts: optionalPath,
    filesExclude: {
      type: 'object',
      properties: {},
      values: { type: 'anyOf', anyOf: [{ type: 'boolean' }, { type: 'object', properties: { when: STRING } }] },
      optional: true,
      nullable: true,
    },
    batchSize: bound({ min: 1, max: 65_536, integer: true }),
  },
} as const satisfies ObjectSchema<FinetuneParams>;

const usePreviousModelParams = {
  type: 'object',
  nullable: true,
  properties: { workspace: optionalPath, storageDir: optionalPath },
} as const satisfies ObjectSchema<UsePreviousModelParams>;

/** The params of every request and notification the server handles, by method. */
export const PARAMS_SCHEMAS: Readonly<Record<string, Schema>> = {
  // The fields of initialize the server reads; processId and rootUri may be null as the LSP says.
  initialize: {
    type: 'object',
    properties: {
      processId: { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1, optional: true, nullable: true },
      rootUri: { ...STRING, optional: true, nullable: true },
      rootPath: { ...STRING, optional: true, nullable: true },
      capabilities: { type: 'object', properties: {} },
      workspaceFolders: { ...WORKSPACE_FOLDERS, optional: true, nullable: true },
      initializationOptions: { type: 'any', optional: true },
    },
  },
  shutdown: { type: 'any', optional: true },
  'textDocument/inlineCompletion': {
    type: 'object',
    properties: {
      textDocument: TEXT_DOCUMENT,
      position: POSITION,
      context: { type: 'object', properties: { triggerKind: { type: 'integer', minimum: 1, maximum: 2 } } },
    },
  },
  'textDocument/didOpen': {
    type: 'object',
    properties: {
      textDocument: { type: 'object', properties: { uri: STRING, languageId: STRING, version: { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }, text: STRING } },
    },
  },
  'textDocument/didChange': {
    type: 'object',
    properties: {
      textDocument: { type: 'object', properties: { uri: STRING, version: { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 } } },
      contentChanges: {
        type: 'array',
        maxItems: 1_000_000,
        items: { type: 'object', properties: { text: STRING, range: { ...RANGE, optional: true } } },
      },
    },
  },
  'textDocument/didClose': { type: 'object', properties: { textDocument: TEXT_DOCUMENT } },
  'workspace/didChangeWorkspaceFolders': {
    type: 'object',
    properties: { event: { type: 'object', properties: { added: WORKSPACE_FOLDERS, removed: WORKSPACE_FOLDERS } } },
  },
  '$/cancelRequest': { type: 'object', properties: { id: { type: 'anyOf', anyOf: [{ type: 'integer', minimum: -(2 ** 53), maximum: 2 ** 53 }, STRING] } } },
  [FillBlanksRequest.method]: fillBlanksParams,
  [WriteBeforeRequest.method]: writeBeforeParams,
  [SetSamplerOptionsRequest.method]: samplerOverrides,
  [FinetuneRequest.method]: finetuneParams,
  [FinetuneCancelRequest.method]: { type: 'object', properties: {}, nullable: true },
  [UsePreviousModelRequest.method]: usePreviousModelParams,
};
