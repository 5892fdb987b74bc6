// The walk over a workspace folder: every entry is decided in a fixed order (version control, links,
// ignore rules, folders, then a file's kind, name, size, the caps and its content), and each decision
// is either a skip with its reason or the file written to the data folder. Links are followed only to
// places inside the workspace (privacy), each real folder and file is used once, and entries are
// visited in name order so two runs over the same tree give the same data.

import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { IgnoreStack } from './gitignore';
import { nameVerdict, readText } from './workspace-data-content';
import { dataPathFor, type DataFolder } from './workspace-data-folder';
import { gitignoreFor, isVcsDir, type IgnoreRules } from './workspace-data-ignore';
import type { SkipReason } from './workspace-data-types';

export interface WalkLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
}

export interface Walk {
  /** The workspace, as a real path. */
  root: string;
  /** The data folder's real path, never walked into when it lies inside the workspace. */
  outReal: string;
  rules: IgnoreRules;
  limits: WalkLimits;
  folder: DataFolder;
  skip(reason: SkipReason, path: string): void;
  /** Throws when the collection was aborted; called before each folder and entry. */
  check(): void;
}

/** Walks the whole workspace, writing each usable file to `walk.folder` as it is found. */
export async function walkWorkspace(walk: Walk): Promise<void> {
  const state: WalkState = { totalBytes: 0, visitedDirs: new Set([walk.root]), usedFiles: new Set() };
  await walkDir(walk, state, walk.root, '', IgnoreStack.empty, new Set([walk.root]));
}

interface WalkState {
  totalBytes: number;
  visitedDirs: Set<string>;
  usedFiles: Set<string>;
}

async function walkDir(walk: Walk, state: WalkState, dirAbs: string, dirRel: string, ignores: IgnoreStack, chain: ReadonlySet<string>): Promise<void> {
  const { root, outReal, rules, limits, folder, skip, check } = walk;
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
  const stack = await gitignoreFor(rules, ignores, dirAbs, dirRel, names);

  for (const entry of entries) {
    check();
    const rel = dirRel === '' ? entry.name : `${dirRel}/${entry.name}`;
    const abs = join(dirAbs, entry.name);

    if (isVcsDir(entry.name)) {
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

    if (rules.respectGitignore && stack.isIgnored(rel, isDir)) {
      skip('gitignored', shown);
      continue;
    }
    if (rules.filesExclude(rel, names)) {
      skip('files_exclude', shown);
      continue;
    }
    if (rules.exclude(rel)) {
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
      if (state.visitedDirs.has(real)) {
        skip('duplicate', shown);
        continue;
      }
      state.visitedDirs.add(real);
      await walkDir(walk, state, abs, rel, stack, new Set([...chain, real]));
      continue;
    }

    if (!info.isFile()) {
      skip('not_regular', rel);
      continue;
    }
    if (rules.include !== null && !rules.include(rel)) {
      skip('not_included', rel);
      continue;
    }
    const byName = nameVerdict(entry.name);
    if (byName !== null) {
      skip(byName, rel);
      continue;
    }
    if (info.size > limits.maxFileBytes) {
      skip('too_large', rel);
      continue;
    }
    if (info.size === 0) {
      skip('empty', rel);
      continue;
    }
    if (folder.files.length >= limits.maxFiles) {
      skip('max_files', rel);
      continue;
    }
    if (state.totalBytes + info.size > limits.maxTotalBytes) {
      skip('max_total_bytes', rel);
      continue;
    }
    const real = isLink ? target : abs;
    const dataPath = dataPathFor(rel);
    if (state.usedFiles.has(real) || folder.has(dataPath)) {
      skip('duplicate', rel);
      continue;
    }

    const verdict = await readText(abs, limits.maxFileBytes);
    if (typeof verdict === 'string') {
      skip(verdict, rel);
      continue;
    }
    if (state.totalBytes + verdict.bytes > limits.maxTotalBytes) {
      skip('max_total_bytes', rel);
      continue;
    }
    state.usedFiles.add(real);
    state.totalBytes += verdict.bytes;
    await folder.write(rel, dataPath, verdict.text, verdict.bytes);
  }
}

function within(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
