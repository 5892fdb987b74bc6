// Diffill's custom LSP messages, declared once and imported by both the server (server/src/lsp)
// and the VS Code client (client/src). Neovim and other editors call the same method names
// (see docs/editors.md). This file may import only protocol types so both bundles stay small.
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

export interface StatusParams {
  state: ServerState;
  /** Model directory name, once known. */
  model: string | null;
  /** Human-readable detail (the error message in state `error`). */
  message: string | null;
  /** Wall-clock latency of the last finished model request, in ms. */
  lastLatencyMs: number | null;
  /** Guidance strength in force. */
  guidance: number;
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
