// Collects a workspace's own text for fine-tuning: walks the folder the way the user's tools see it
// (.gitignore files, VS Code `files.exclude`, include/exclude globs), keeps only hand-written text
// (no binaries, generated, minified or lock files, no source maps, nothing huge), and writes it as a
// plain-text data folder in the layout the trainer reads (server/training/python/diffill_trainer/
// data.py, "a folder of plain text"): one file per document, at its workspace-relative path. The
// trainer holds out whole files itself (ordered by CRC-32 of the relative path, about 5% of the
// characters); we compute the same split so the summary tells the user exactly what is trained on
// and what is held out.
//
// Two renames keep the trainer from dropping or misreading files: it skips any path with a part
// that starts with '.', so '.github/ci.yml' is written as '_.github/ci.yml'; and a top-level
// 'meta.json' would make it read the folder as a packed corpus, so it is written as '_meta.json'.
//
// Files are read through a size-bounded handle after a stat, so a huge or growing file never gets
// loaded whole; everything is async and stops at the caller's AbortSignal.

import type { Dirent, Stats } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, realpath, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { Tokenizer } from '../engine/tokenizer';
import { IgnoreStack, parseGitignore } from './gitignore';
import { compileGlob, compileGlobs, type PathMatcher } from './path-glob';

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

/**
 * VS Code `files.exclude`: glob -> true/false, or a sibling clause `{ when: "$(basename).ts" }` that
 * excludes a file only when a sibling with that name exists.
 */
export type FilesExclude = Readonly<Record<string, boolean | { when: string }>>;

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
  /** Relative path inside the data folder (differs from `path` only by the renames above). */
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

/** Folders nobody writes by hand; replaced (not extended) by the `exclude` option. */
export const DEFAULT_EXCLUDE: readonly string[] = [
  '**/node_modules',
  '**/bower_components',
  '**/__pycache__',
  '**/.venv',
  '**/.tox',
  '**/.mypy_cache',
  '**/.pytest_cache',
  '**/.ruff_cache',
  '**/.DS_Store',
];

const DEFAULTS = {
  maxFileBytes: 256 * 1024,
  maxTotalBytes: 16 * 1024 * 1024,
  maxFiles: 20_000,
  examplesPerReason: 5,
};

/**
 * Blank as Python's str.strip() sees it (the trainer drops such files): its whitespace set, which
 * differs from JavaScript's (\x1c-\x1f and U+0085 are whitespace there, U+FEFF is not).
 */
const PYTHON_BLANK = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/** The bytes that decide binary / generated / minified. */
export const HEAD_BYTES = 8192;

const VCS_DIRS = new Set(['.git', '.hg', '.svn']);

const LOCK_FILES = new Set([
  'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb',
  'deno.lock', 'cargo.lock', 'gemfile.lock', 'composer.lock', 'poetry.lock', 'pipfile.lock', 'uv.lock',
  'pdm.lock', 'go.sum', 'flake.lock', 'mix.lock', 'pubspec.lock', 'podfile.lock', 'packages.lock.json',
  'gradle.lockfile', 'conda-lock.yml', 'paket.lock',
]);

export function isLockFile(name: string): boolean {
  const lower = name.toLowerCase();
  return LOCK_FILES.has(lower) || lower.endsWith('.lock') || lower.endsWith('.lockfile');
}

export function isSourceMap(name: string): boolean {
  return name.toLowerCase().endsWith('.map');
}

/** `app.min.js`, `vendor-min.css`, `x.bundle.min.mjs`. */
export function hasMinifiedName(name: string): boolean {
  return /[.-]min\.[a-z0-9]+$/i.test(name);
}

/** Binary: a NUL byte, or bytes that are not UTF-8 (a sequence cut at the end of the sample is fine). */
export function looksBinary(sample: Uint8Array, truncated: boolean): boolean {
  if (sample.includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample, { stream: truncated });
    return false;
  } catch {
    return true;
  }
}

const GENERATED_MARKER = /@generated\b|do not edit|auto-?generated|automatically generated|code generated by|generated by .{1,80}do not modify/i;
const COMMENT_START = /^(\/\/|\/\*|\*|#|<!--|--|;|%|'''|"""|\(\*|\{-|rem\b)/i;

/**
 * Generated-file headers ("@generated", "DO NOT EDIT", "autogenerated", Go's "Code generated ... DO
 * NOT EDIT."). Only comment lines among the first ten count, so a generator script that merely
 * contains the phrase in a string literal is still used.
 */
export function hasGeneratedHeader(head: string): boolean {
  const lines = head.split('\n', 10);
  let inBlock = false;
  for (const raw of lines) {
    const line = raw.trim();
    const isComment = inBlock || COMMENT_START.test(line);
    if (isComment && GENERATED_MARKER.test(line)) return true;
    // Track block comments and docstrings opened in the header so their inner lines count too.
    if (!inBlock && /^(\/\*|<!--|"""|''')/.test(line)) {
      const closer = line.startsWith('/*') ? '*/' : line.startsWith('<!--') ? '-->' : line.slice(0, 3);
      inBlock = !line.slice(3).includes(closer);
    } else if (inBlock && /\*\/|-->|"""|'''/.test(line)) {
      inBlock = false;
    }
  }
  return false;
}

/**
 * Minified or machine-packed text: very long lines on average, or one enormous line. Judged on the
 * head sample; short files are never called minified (a one-line config is fine).
 */
export function looksMinified(head: string): boolean {
  if (head.length < 1024) return false;
  const lines = head.split('\n');
  const average = head.length / lines.length;
  if (average > 200) return true;
  return lines.some((l) => l.length > 4000);
}

/** The trainer ignores larger text files (data.py MAX_TEXT_FILE_BYTES), so none is written. */
export const TRAINER_MAX_FILE_BYTES = 4 << 20;

/** Share of the text's characters the trainer holds out, by whole files (data.py VAL_FRACTION). */
export const TRAINER_VAL_FRACTION = 0.05;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (zlib's, as Python's zlib.crc32) of the UTF-8 bytes of `text`. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Length in code points, as Python's len(str) counts. */
export function codePointLength(text: string): number {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return text.length - pairs;
}

/** Python's str ordering (by code point), which is the order of the UTF-8 bytes. */
const comparePython = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * The trainer's held-out split of a plain-text folder, reproduced (data.py `_held_out`): files in
 * the order of (CRC-32 of the data path, data path) are held out until they hold `fraction` of all
 * characters; at least one file and never all of them, so a single file is not held out at all
 * (the trainer then validates on the training text). `chars` counts code points.
 * Returns the held-out data paths.
 */
export function trainerSplit(docs: ReadonlyArray<{ dataPath: string; chars: number }>, fraction = TRAINER_VAL_FRACTION): Set<string> {
  const held = new Set<string>();
  if (docs.length < 2) return held;
  const order = docs
    .map((d) => ({ d, crc: crc32(d.dataPath) }))
    .sort((a, b) => a.crc - b.crc || comparePython(a.d.dataPath, b.d.dataPath));
  const target = fraction * docs.reduce((sum, d) => sum + d.chars, 0);
  let size = 0;
  for (const { d } of order.slice(0, -1)) {
    if (size >= target) break;
    held.add(d.dataPath);
    size += d.chars;
  }
  return held;
}

/** Where a workspace file goes in the data folder (see the renames in the header comment). */
export function dataPathFor(relativePath: string): string {
  const parts = relativePath.split('/').map((part) => (part.startsWith('.') ? `_${part}` : part));
  if (parts.length === 1 && parts[0] === 'meta.json') parts[0] = '_meta.json';
  return parts.join('/');
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('the data collection was aborted');
  err.name = 'AbortError';
  return err;
}

function within(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

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
  const caseInsensitive = options.caseInsensitive ?? (process.platform === 'darwin' || process.platform === 'win32');
  const globOptions = { dialect: 'vscode' as const, caseInsensitive };
  const include = options.include && options.include.length > 0 ? compileGlobs(options.include, globOptions) : null;
  const exclude = compileGlobs(options.exclude ?? DEFAULT_EXCLUDE, globOptions);
  const filesExclude = compileFilesExclude(options.filesExclude ?? {}, caseInsensitive);
  const respectGitignore = options.respectGitignore ?? true;
  const countTokens = options.countTokens ?? null;

  let root: string;
  try {
    root = await realpath(resolve(workspace));
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new WorkspaceDataError('not_a_directory', `workspace '${workspace}' is not a readable directory`);
  }

  const { dir: outDir, created } = await prepareOutDir(options.outDir);
  const outReal = await realpath(outDir);

  const skipped: Partial<Record<SkipReason, SkipGroup>> = {};
  const skip = (reason: SkipReason, path: string): void => {
    const group = (skipped[reason] ??= { count: 0, examples: [] });
    group.count++;
    if (group.examples.length < examplesPerReason) group.examples.push(path);
  };

  // Each accepted file is written at once, so nothing is held in memory.
  const files: CollectedFile[] = [];
  const chars = new Map<string, number>();
  const dataPaths = new Set<string>();
  let totalBytes = 0;
  const use = async (rel: string, dataPath: string, text: string, bytes: number): Promise<void> => {
    const tokens = countTokens === null ? null : countTokens(text);
    const destination = join(outDir, ...dataPath.split('/'));
    await mkdir(dirname(destination), { recursive: true });
    await writeFile(destination, text, 'utf8');
    dataPaths.add(dataPath);
    chars.set(dataPath, codePointLength(text));
    files.push({ path: rel, dataPath, split: 'train', bytes, tokens });
  };
  const visitedDirs = new Set<string>([root]);
  const usedFiles = new Set<string>();

  const walk = async (dirAbs: string, dirRel: string, ignores: IgnoreStack, chain: ReadonlySet<string>): Promise<void> => {
    check();
    let entries: Dirent[];
    try {
      entries = await readdir(dirAbs, { withFileTypes: true });
    } catch {
      skip('unreadable', dirRel === '' ? './' : dirRel + '/');
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const names = new Set(entries.map((e) => e.name));

    let stack = ignores;
    if (respectGitignore) {
      if (dirRel === '') stack = stack.with(await readIgnoreFile(join(dirAbs, '.git', 'info', 'exclude'), '', caseInsensitive));
      if (names.has('.gitignore')) stack = stack.with(await readIgnoreFile(join(dirAbs, '.gitignore'), dirRel, caseInsensitive));
    }

    for (const entry of entries) {
      check();
      const rel = dirRel === '' ? entry.name : `${dirRel}/${entry.name}`;
      const abs = join(dirAbs, entry.name);

      if (VCS_DIRS.has(entry.name)) {
        skip('vcs', entry.isFile() ? rel : rel + '/');
        continue;
      }

      // Resolve what the entry is (lstat, not the Dirent type, which some file systems leave
      // unknown); links are followed only to places inside the workspace.
      let info: Stats;
      let target = abs;
      let isLink = false;
      try {
        info = await lstat(abs);
        if (info.isSymbolicLink()) {
          isLink = true;
          try {
            target = await realpath(abs);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            skip(code === 'ELOOP' ? 'symlink_loop' : code === 'ENOENT' ? 'broken_symlink' : 'unreadable', rel);
            continue;
          }
          if (!within(root, target)) {
            skip('symlink_outside', rel);
            continue;
          }
          info = await stat(target);
        }
      } catch {
        skip('unreadable', rel);
        continue;
      }
      const isDir = info.isDirectory();
      const shown = isDir ? rel + '/' : rel;

      if (respectGitignore && stack.isIgnored(rel, isDir)) {
        skip('gitignored', shown);
        continue;
      }
      if (filesExclude(rel, names)) {
        skip('files_exclude', shown);
        continue;
      }
      if (exclude(rel)) {
        skip('excluded', shown);
        continue;
      }

      if (isDir) {
        const real = isLink ? target : await realpath(abs).catch(() => abs);
        if (real === outReal) {
          skip('output_dir', shown);
          continue;
        }
        // A directory already on the current path is a loop; one seen elsewhere is a duplicate view.
        if (chain.has(real)) {
          skip('symlink_loop', shown);
          continue;
        }
        if (visitedDirs.has(real)) {
          skip('duplicate', shown);
          continue;
        }
        visitedDirs.add(real);
        await walk(abs, rel, stack, new Set([...chain, real]));
        continue;
      }

      if (!info.isFile()) {
        skip('not_regular', rel);
        continue;
      }
      if (include !== null && !include(rel)) {
        skip('not_included', rel);
        continue;
      }
      const name = entry.name;
      if (isLockFile(name)) {
        skip('lock_file', rel);
        continue;
      }
      if (isSourceMap(name)) {
        skip('source_map', rel);
        continue;
      }
      if (hasMinifiedName(name)) {
        skip('minified', rel);
        continue;
      }
      if (info.size > maxFileBytes) {
        skip('too_large', rel);
        continue;
      }
      if (info.size === 0) {
        skip('empty', rel);
        continue;
      }
      if (files.length >= maxFiles) {
        skip('max_files', rel);
        continue;
      }
      if (totalBytes + info.size > maxTotalBytes) {
        skip('max_total_bytes', rel);
        continue;
      }
      const real = isLink ? target : abs;
      const dataPath = dataPathFor(rel);
      if (usedFiles.has(real) || dataPaths.has(dataPath)) {
        skip('duplicate', rel);
        continue;
      }

      const verdict = await readText(abs, maxFileBytes);
      if (typeof verdict === 'string') {
        skip(verdict, rel);
        continue;
      }
      if (totalBytes + verdict.bytes > maxTotalBytes) {
        skip('max_total_bytes', rel);
        continue;
      }
      usedFiles.add(real);
      totalBytes += verdict.bytes;
      await use(rel, dataPath, verdict.text, verdict.bytes);
    }
  };

  try {
    await walk(root, '', IgnoreStack.empty, new Set([root]));

    const held = trainerSplit(files.map((f) => ({ dataPath: f.dataPath, chars: chars.get(f.dataPath)! })));
    for (const f of files) f.split = held.has(f.dataPath) ? 'val' : 'train';

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
    const counted = countTokens !== null;
    const summary: WorkspaceDataSummary = {
      workspace: root,
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
      elapsedMs: Date.now() - started,
    };
    if (files.length === 0) {
      const reasons = Object.entries(skipped)
        .sort((a, b) => b[1].count - a[1].count)
        .map(([reason, g]) => `${reason} ${g.count}`)
        .join(', ');
      throw new WorkspaceDataError('no_files', `no usable text files in ${root}${reasons ? ` (skipped: ${reasons})` : ''}`, summary);
    }
    return { dir: outDir, summary, files };
  } catch (err) {
    // Leave no partial data behind: the folder was created here, or was empty when we started.
    if (created) await rm(outDir, { recursive: true, force: true });
    else for (const name of await readdir(outDir)) await rm(join(outDir, name), { recursive: true, force: true });
    throw err;
  }
}

/**
 * Reads a file through a handle: first the head (binary, generated and minified checks), then the
 * rest, never more than maxFileBytes + 1 bytes (a file that grew past the cap since the stat is
 * too_large). Returns the text or the reason to skip it.
 */
async function readText(path: string, maxFileBytes: number): Promise<{ text: string; bytes: number } | SkipReason> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return 'unreadable';
  }
  try {
    const limit = maxFileBytes + 1;
    const headWanted = Math.min(HEAD_BYTES, limit);
    const head = await readUpTo(handle, headWanted);
    if (head.length > maxFileBytes) return 'too_large';
    const wholeFileInHead = head.length < headWanted;
    // Most rejected files are decided by the head, without reading further.
    if (looksBinary(head, !wholeFileInHead)) return 'binary';
    const headText = new TextDecoder('utf-8').decode(head, { stream: !wholeFileInHead });
    if (hasGeneratedHeader(headText)) return 'generated';
    if (looksMinified(headText)) return 'minified';
    const all = wholeFileInHead ? head : Buffer.concat([head, await readUpTo(handle, limit - head.length)]);
    if (all.length > maxFileBytes) return 'too_large';
    if (all !== head && looksBinary(all, false)) return 'binary';
    // The decoder drops a leading byte-order mark; `bytes` still counts the file as stored.
    const text = new TextDecoder('utf-8').decode(all);
    if (PYTHON_BLANK.test(text)) return 'empty';
    return { text, bytes: all.length };
  } catch {
    return 'unreadable';
  } finally {
    await handle.close();
  }
}

/** Reads from the handle's current position until `n` bytes or the end of the file. */
async function readUpTo(handle: FileHandle, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total < n) {
    const chunk = Buffer.allocUnsafe(Math.min(n - total, 64 * 1024));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

async function readIgnoreFile(path: string, base: string, caseInsensitive: boolean) {
  try {
    return parseGitignore(await readFile(path, 'utf8'), base, caseInsensitive);
  } catch {
    return [];
  }
}

/**
 * `files.exclude` as VS Code applies it: globs relative to the workspace folder, a match on a folder
 * hides everything in it, and `{ when: "$(basename).ts" }` applies only when that sibling exists.
 */
function compileFilesExclude(setting: FilesExclude, caseInsensitive: boolean): (rel: string, siblings: ReadonlySet<string>) => boolean {
  const rules: Array<{ match: PathMatcher; when: string | null }> = [];
  for (const [pattern, value] of Object.entries(setting)) {
    if (value === false || pattern.trim() === '') continue;
    const when = typeof value === 'object' && value !== null && typeof value.when === 'string' ? value.when : null;
    rules.push({ match: compileGlob(pattern, { dialect: 'vscode', caseInsensitive }), when });
  }
  return (rel, siblings) => {
    for (const rule of rules) {
      if (!rule.match(rel)) continue;
      if (rule.when === null) return true;
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      const dot = name.lastIndexOf('.');
      const basename = dot > 0 ? name.slice(0, dot) : name;
      if (siblings.has(rule.when.replace(/\$\(basename\)/g, basename))) return true;
    }
    return false;
  };
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

async function prepareOutDir(outDir: string | undefined): Promise<{ dir: string; created: boolean }> {
  if (outDir === undefined) return { dir: await mkdtemp(join(tmpdir(), 'diffill-finetune-data-')), created: true };
  const dir = resolve(outDir);
  try {
    const existing = await readdir(dir);
    if (existing.length > 0) {
      throw new WorkspaceDataError('out_dir_not_empty', `output folder '${dir}' is not empty`);
    }
    return { dir, created: false };
  } catch (err) {
    if (err instanceof WorkspaceDataError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    return { dir, created: true };
  }
}

/**
 * A TokenCounter over the project tokenizer (models/<name>/tokenizer.json), the same ids the trainer
 * gets; throws TokenizerError for a missing or unsupported file.
 */
export function loadTokenCounter(tokenizerJson: string): TokenCounter {
  const tokenizer = Tokenizer.fromFile(tokenizerJson);
  return (text) => tokenizer.encode(text).length;
}

