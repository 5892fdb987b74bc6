// The file-system moves the model store's crash safety is built from: flushed writes and copies,
// temp names that carry the writing process's id (so leftovers of a dead process can be told from
// work in progress), directory flushes after renames, and deleting by renaming away first.

import { constants as fsConstants } from 'node:fs';
import { copyFile, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { StoreIO } from './model-store-types';

/** `<name>.tmp-<pid>-<hex>` (being written) and `<name>.tmp-del-<pid>-<hex>` (being deleted). */
export const TEMP_PATTERN = /\.tmp-(?:del-)?(\d+)-[0-9a-f]+$/;

export function tempSuffix(kind: 'tmp' | 'del'): string {
  return `.tmp-${kind === 'del' ? 'del-' : ''}${process.pid}-${randomBytes(4).toString('hex')}`;
}

export const isDiskFull = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp entries of processes that are gone from each `[dir, prefix]` folder; returns them
 * as `prefix + name`. A live process's temp entries are its work in progress and stay.
 */
export async function removeDeadTemps(folders: ReadonlyArray<readonly [dir: string, prefix: string]>): Promise<string[]> {
  const removed: string[] = [];
  for (const [dir, prefix] of folders) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = TEMP_PATTERN.exec(name);
      if (m === null || pidAlive(Number(m[1]))) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(prefix + name);
    }
  }
  return removed;
}

/** Flushes a directory's entries (renames, creations) to disk; not possible on Windows, where it is skipped. */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes a folder by renaming it away first, so a crash never leaves a half-deleted one visible. */
export async function deleteByRename(parent: string, name: string): Promise<void> {
  const doomed = join(parent, name + tempSuffix('del'));
  await rename(join(parent, name), doomed);
  await syncDir(parent);
  await rm(doomed, { recursive: true, force: true });
}

export const defaultIO: StoreIO = {
  async copyFile(source, destination) {
    await copyFile(source, destination, fsConstants.COPYFILE_EXCL);
    const handle = await open(destination, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async writeFile(path, data) {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Every regular file below `dir`, '/'-separated and in name order, with its size. */
export async function listFiles(dir: string, prefix = ''): Promise<Array<{ rel: string; size: number }>> {
  const out: Array<{ rel: string; size: number }> = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    const s = await stat(join(dir, rel));
    if (s.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (s.isFile()) out.push({ rel, size: s.size });
  }
  return out;
}
