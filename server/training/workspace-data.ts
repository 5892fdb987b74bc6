// Collects a workspace's own text for fine-tuning: walks the folder the way the user's tools see it
// (.gitignore files, VS Code `files.exclude`, include/exclude globs), keeps only hand-written text
// (no binaries, generated, minified or lock files, no source maps, nothing huge), and writes it as a
// plain-text data folder in the layout the trainer reads. The trainer holds out whole files itself;
// we compute the same split so the summary tells the user exactly what is trained on and what is
// held out. Everything is async and stops at the caller's AbortSignal.
//
// This file checks the options and puts the parts together; each idea has its own file:
//   workspace-data-walk.ts     the walk and the order in which each entry is decided
//   workspace-data-ignore.ts   version control, .gitignore, files.exclude, include/exclude globs
//   workspace-data-content.ts  lock files, source maps, minified, generated and binary text
//   workspace-data-split.ts    the trainer's held-out split, reproduced
//   workspace-data-folder.ts   writing the data folder (and the renames the trainer needs)
//   workspace-data-types.ts    options, skip reasons, the summary and the error type

import { realpath, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { Tokenizer } from '../engine/tokenizer';
import { DataFolder } from './workspace-data-folder';
import { compileIgnoreRules } from './workspace-data-ignore';
import { TRAINER_MAX_FILE_BYTES, trainerSplit } from './workspace-data-split';
import {
  WorkspaceDataError,
  type CollectOptions,
  type ExtensionCount,
  type SkipGroup,
  type SkipReason,
  type TokenCounter,
  type WorkspaceData,
  type WorkspaceDataSummary,
} from './workspace-data-types';
import { walkWorkspace } from './workspace-data-walk';

export { DEFAULT_EXCLUDE, type FilesExclude } from './workspace-data-ignore';
export * from './workspace-data-types';

const DEFAULTS = {
  maxFileBytes: 256 * 1024,
  maxTotalBytes: 16 * 1024 * 1024,
  maxFiles: 20_000,
  examplesPerReason: 5,
};

/**
 * Walks `workspace` and writes its usable text to a fresh data folder. Throws WorkspaceDataError for
 * bad options, a missing workspace or a non-empty `outDir`, and the signal's reason on abort (the
 * data folder is then removed).
 */
export async function collectWorkspaceData(workspace: string, options: CollectOptions = {}): Promise<WorkspaceData> {
  const started = Date.now();
  const signal = options.signal;
  const check = (): void => {
    if (signal?.aborted) throw abortError(signal);
  };
  check();

  const maxFileBytes = positive('maxFileBytes', options.maxFileBytes ?? DEFAULTS.maxFileBytes);
  if (maxFileBytes > TRAINER_MAX_FILE_BYTES) {
    throw new WorkspaceDataError('bad_option', `maxFileBytes may be at most ${TRAINER_MAX_FILE_BYTES} (the trainer skips larger files), got ${maxFileBytes}`);
  }
  const maxTotalBytes = positive('maxTotalBytes', options.maxTotalBytes ?? DEFAULTS.maxTotalBytes);
  const maxFiles = positive('maxFiles', options.maxFiles ?? DEFAULTS.maxFiles);
  const examplesPerReason = options.examplesPerReason ?? DEFAULTS.examplesPerReason;
  const rules = compileIgnoreRules(options);
  const countTokens = options.countTokens ?? null;

  let root: string;
  try {
    root = await realpath(resolve(workspace));
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new WorkspaceDataError('not_a_directory', `workspace '${workspace}' is not a readable directory`);
  }

  const folder = await DataFolder.open(options.outDir, countTokens);
  const outReal = await realpath(folder.dir);

  const skipped: Partial<Record<SkipReason, SkipGroup>> = {};
  const skip = (reason: SkipReason, path: string): void => {
    const group = (skipped[reason] ??= { count: 0, examples: [] });
    group.count++;
    if (group.examples.length < examplesPerReason) group.examples.push(path);
  };

  try {
    await walkWorkspace({ root, outReal, rules, limits: { maxFileBytes, maxTotalBytes, maxFiles }, folder, skip, check });

    const files = folder.files;
    const held = trainerSplit(folder.documents());
    for (const f of files) f.split = held.has(f.dataPath) ? 'val' : 'train';

    const summary = summarize(root, folder.dir, files, skipped, countTokens !== null, Date.now() - started);
    if (files.length === 0) {
      const reasons = Object.entries(skipped)
        .sort((a, b) => b[1].count - a[1].count)
        .map(([reason, g]) => `${reason} ${g.count}`)
        .join(', ');
      throw new WorkspaceDataError('no_files', `no usable text files in ${root}${reasons ? ` (skipped: ${reasons})` : ''}`, summary);
    }
    return { dir: folder.dir, summary, files };
  } catch (err) {
    await folder.discard();
    throw err;
  }
}

/** The figures shown to the user: train/val files, bytes and tokens, by extension, and the skips. */
function summarize(
  workspace: string,
  outDir: string,
  files: WorkspaceData['files'],
  skipped: Partial<Record<SkipReason, SkipGroup>>,
  counted: boolean,
  elapsedMs: number,
): WorkspaceDataSummary {
  const byExtension: Record<string, ExtensionCount> = {};
  const totals = { train: { files: 0, bytes: 0, tokens: 0 }, val: { files: 0, bytes: 0, tokens: 0 } };
  for (const f of files) {
    const t = totals[f.split];
    t.files++;
    t.bytes += f.bytes;
    t.tokens += f.tokens ?? 0;
    const e = (byExtension[extensionKey(f.path)] ??= { files: 0, bytes: 0 });
    e.files++;
    e.bytes += f.bytes;
  }
  return {
    workspace,
    outDir,
    files: files.length,
    trainFiles: totals.train.files,
    valFiles: totals.val.files,
    bytes: totals.train.bytes + totals.val.bytes,
    trainBytes: totals.train.bytes,
    valBytes: totals.val.bytes,
    tokens: counted ? totals.train.tokens + totals.val.tokens : null,
    trainTokens: counted ? totals.train.tokens : null,
    valTokens: counted ? totals.val.tokens : null,
    byExtension,
    skipped,
    elapsedMs,
  };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('the data collection was aborted');
  err.name = 'AbortError';
  return err;
}

function extensionKey(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ext = extname(name).toLowerCase();
  return ext === '' ? name : ext;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new WorkspaceDataError('bad_option', `${name} must be a positive number, got ${value}`);
  }
  return value;
}

/**
 * A TokenCounter over the project tokenizer (models/<name>/tokenizer.json), the same ids the trainer
 * gets; throws TokenizerError for a missing or unsupported file.
 */
export function loadTokenCounter(tokenizerJson: string): TokenCounter {
  const tokenizer = Tokenizer.fromFile(tokenizerJson);
  return (text) => tokenizer.encode(text).length;
}
