// The vocabulary of workspace data collection, shared by its parts (workspace-data.ts and the
// workspace-data-*.ts files it uses) and by its callers: options, what was skipped and why, the
// summary shown to the user, and the one error type.

import type { FilesExclude } from './workspace-data-ignore';

/** Why a path was left out. Directories left out whole are reported once, with a trailing '/'. */
export type SkipReason =
  | 'vcs' // .git (always), and other version-control folders
  | 'gitignored'
  | 'files_exclude' // VS Code files.exclude
  | 'excluded' // the exclude option (DEFAULT_EXCLUDE unless replaced)
  | 'not_included' // include globs given and none matched
  | 'output_dir' // the data folder itself, when it lies inside the workspace
  | 'lock_file'
  | 'source_map'
  | 'minified'
  | 'generated'
  | 'binary' // NUL byte or invalid UTF-8
  | 'too_large' // over maxFileBytes
  | 'empty' // zero bytes or whitespace only
  | 'max_files' // the maxFiles cap was reached
  | 'max_total_bytes' // the file would push the total over maxTotalBytes
  | 'symlink_loop'
  | 'symlink_outside' // a link to somewhere outside the workspace (never followed: privacy)
  | 'broken_symlink'
  | 'duplicate' // the same file reached again through a link
  | 'not_regular' // sockets, FIFOs, devices
  | 'unreadable'; // permission errors and files that vanished during the walk

/** Counts tokens of a text; the summary reports counts without special tokens. */
export type TokenCounter = (text: string) => number;

export interface CollectOptions {
  /** Globs (VS Code syntax, workspace-relative) a file must match to be used; empty/absent = all files. */
  include?: readonly string[];
  /** Globs to leave out, files or whole folders. Replaces DEFAULT_EXCLUDE when given. */
  exclude?: readonly string[];
  /** The `files.exclude` setting of the workspace, as VS Code passes it. */
  filesExclude?: FilesExclude;
  /** Honour .gitignore files and .git/info/exclude (default true). */
  respectGitignore?: boolean;
  /** Largest file used, in bytes (default 256 KiB, at most TRAINER_MAX_FILE_BYTES); larger files are skipped as too_large. */
  maxFileBytes?: number;
  /** Most bytes in all (default 16 MiB). */
  maxTotalBytes?: number;
  /** Most files in all (default 20,000). */
  maxFiles?: number;
  /** Where to write the data folder; must be absent or empty. Default: a new folder in the OS temp dir. */
  outDir?: string;
  /** Token counter for the summary; null = do not count (summary token fields are null). */
  countTokens?: TokenCounter | null;
  /** Case-insensitive globs (default: as the platform's file system, i.e. true on macOS and Windows). */
  caseInsensitive?: boolean;
  /** Example paths kept per skip reason (default 5). */
  examplesPerReason?: number;
  signal?: AbortSignal;
}

export interface SkipGroup {
  count: number;
  examples: string[];
}

export interface ExtensionCount {
  files: number;
  bytes: number;
}

/** Train/val figures follow the trainer's own held-out split (see trainerSplit). */
export interface WorkspaceDataSummary {
  workspace: string;
  outDir: string;
  files: number;
  trainFiles: number;
  valFiles: number;
  bytes: number;
  trainBytes: number;
  valBytes: number;
  /** Null when no token counter was given. */
  tokens: number | null;
  trainTokens: number | null;
  valTokens: number | null;
  /** By lower-cased extension ('.ts'); files without one are counted under their name ('Makefile'). */
  byExtension: Record<string, ExtensionCount>;
  skipped: Partial<Record<SkipReason, SkipGroup>>;
  elapsedMs: number;
}

export interface CollectedFile {
  /** Workspace-relative, '/'-separated. */
  path: string;
  /** Relative path inside the data folder (differs from `path` only by the renames of dataPathFor). */
  dataPath: string;
  split: 'train' | 'val';
  bytes: number;
  tokens: number | null;
}

export interface WorkspaceData {
  /** The data folder, passed to the trainer as `--data`; the caller removes it when training is over. */
  dir: string;
  summary: WorkspaceDataSummary;
  files: CollectedFile[];
}

/** Bad arguments, an unusable output folder, or a workspace with nothing to train on. */
export class WorkspaceDataError extends Error {
  override readonly name = 'WorkspaceDataError';
  constructor(
    readonly kind: 'not_a_directory' | 'bad_option' | 'out_dir_not_empty' | 'no_files',
    message: string,
    /** For 'no_files': what was skipped and why, to show the user. */
    readonly summary?: WorkspaceDataSummary,
  ) {
    super(message);
  }
}
