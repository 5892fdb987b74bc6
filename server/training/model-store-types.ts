// The model store's vocabulary, shared by its parts (model-store.ts and the model-store-*.ts files)
// and its callers: the error type, what a version and the active model look like, the options, and
// the two writes a test may replace.

export type ModelStoreErrorKind =
  | 'invalid_candidate' // not a complete diffill-mdm model directory
  | 'disk_full' // ENOSPC / EDQUOT, or too little free space to start; the active model is untouched
  | 'not_found' // no such version
  | 'nothing_to_roll_back'
  | 'bad_root' // the storage root is unusable (or inside the workspace)
  | 'bad_argument'
  | 'io'; // any other file-system failure

export class ModelStoreError extends Error {
  override readonly name = 'ModelStoreError';
  constructor(
    readonly kind: ModelStoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ModelVersion {
  id: string;
  dir: string;
  /** ISO time of the install (from install.json; the id's time when that is missing). */
  installedAt: string;
  /** Total bytes of the model directory's files. */
  bytes: number;
  /** False when the directory is incomplete or damaged; `problem` says why. Invalid versions are never served. */
  valid: boolean;
  problem?: string;
  active: boolean;
  /** Whatever the installer recorded (data summary, steps, val loss ...). */
  meta: Record<string, unknown>;
}

export type ActiveModel =
  | { source: 'store'; id: string; dir: string }
  | { source: 'base'; dir: string | null };

export interface RecoveryReport {
  /** Temp leftovers removed (relative to the root). */
  removedTemp: string[];
  /** True when active.json was rewritten because it was missing, unreadable, or named an unusable version. */
  repaired: boolean;
  /** What active.json said before recovery (null: base model or no file). */
  before: string | null;
  /** What is active after recovery (null: the base model). */
  after: string | null;
  /** Set when active.json needed a repair that could not be written. */
  error?: string;
}

/**
 * The two writes the store makes. Injectable so that a failing disk can be simulated where a real
 * one is not available; both must leave the data flushed to disk before resolving.
 */
export interface StoreIO {
  /** Copies one file to a destination that does not exist yet. */
  copyFile(source: string, destination: string): Promise<void>;
  /** Creates a small file with `data` (active.json, install.json). */
  writeFile(path: string, data: string): Promise<void>;
}

export interface ModelStoreOptions {
  /** The model served when the store has none active (e.g. models/default). */
  baseModelDir?: string;
  /** The workspace the models belong to: recorded in workspace.json; the root may not lie inside it. */
  workspace?: string;
  /** Refuse to start an install that would not fit in the free space (default true). */
  checkFreeSpace?: boolean;
  /** The key that signs install records (default ~/.diffill/store.key; created at the first install). */
  keyFile?: string;
  io?: Partial<StoreIO>;
}

export interface InstallOptions {
  /** Make it the active model (default true). */
  activate?: boolean;
  /** Rename the candidate into the store instead of copying it (falls back to a copy across devices). */
  move?: boolean;
  /** Recorded in install.json and returned by list(). */
  meta?: Record<string, unknown>;
  signal?: AbortSignal;
}
