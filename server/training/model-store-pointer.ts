// active.json: which version is served, and the versions active before it (for "Use Previous
// Model"). It is only ever replaced by renaming a flushed temp file over it, after the version it
// names is in place, so it never names a missing or partial model. What is served for a pointer is
// decided by chooseServed, which also falls back when the pointer names something unusable.

import { readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDiskFull, syncDir, tempSuffix } from './model-store-disk';
import { ModelStoreError, type ModelVersion, type StoreIO } from './model-store-types';

const POINTER = 'active.json';
const POINTER_FORMAT = 'diffill-model-store';
/** Versions remembered as "before"; older ones fall off (and become prunable). */
const HISTORY_LIMIT = 20;

export interface Pointer {
  format: typeof POINTER_FORMAT;
  version: 1;
  active: string | null;
  /** Versions active before, oldest first. */
  history: string[];
  updatedAt: string;
}

export type PointerRead = { ok: true; value: Pointer; missing: false } | { ok: false; missing: boolean };

/** The pointer, or why there is none: missing (no file) or unreadable (anything else). */
export async function readPointer(root: string): Promise<PointerRead> {
  let text: string;
  try {
    text = await readFile(join(root, POINTER), 'utf8');
  } catch (err) {
    return { ok: false, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' };
  }
  try {
    const v = JSON.parse(text) as Partial<Pointer>;
    const historyOk = Array.isArray(v.history) && v.history.every((h) => typeof h === 'string');
    if (v.format !== POINTER_FORMAT || (v.active !== null && typeof v.active !== 'string') || !historyOk) return { ok: false, missing: false };
    return { ok: true, value: v as Pointer, missing: false };
  } catch {
    return { ok: false, missing: false };
  }
}

/** A pointer as recovery makes one when there is none: `active`, no history. */
export function freshPointer(active: string | null): Pointer {
  return { format: POINTER_FORMAT, version: 1, active, history: [], updatedAt: '' };
}

/** Replaces active.json atomically: write a temp file, flush it, rename over, flush the directory. */
export async function writePointer(root: string, io: StoreIO, active: string | null, history: readonly string[]): Promise<void> {
  const pointer: Pointer = {
    format: POINTER_FORMAT,
    version: 1,
    active,
    history: history.slice(-HISTORY_LIMIT),
    updatedAt: new Date().toISOString(),
  };
  const temp = join(root, POINTER + tempSuffix('tmp'));
  try {
    await io.writeFile(temp, JSON.stringify(pointer, null, 2) + '\n');
    await rename(temp, join(root, POINTER));
    await syncDir(root);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    if (isDiskFull(err)) {
      throw new ModelStoreError('disk_full', `the disk is full: could not switch the active model in ${root}; the previous model is still active`, { cause: err });
    }
    throw err;
  }
}

/** The history after `next` replaces `previous` as the active version. */
export function pushHistory(history: readonly string[], previous: string | null, next: string): string[] {
  const h = history.filter((id) => id !== previous && id !== next);
  if (previous !== null && previous !== next) h.push(previous);
  return h.slice(-HISTORY_LIMIT);
}

/**
 * The version to serve for a pointer: its active one if valid, else its latest valid previous, else
 * the newest valid, else base (null). "Valid" includes the hash check (`intact`): this decides what
 * is served.
 */
export async function chooseServed(
  pointer: Pointer | null,
  versions: readonly ModelVersion[],
  intact: (version: ModelVersion) => Promise<string | null>,
): Promise<string | null> {
  const usable = async (id: string): Promise<boolean> => {
    const v = versions.find((x) => x.id === id);
    return v !== undefined && v.valid && (await intact(v)) === null;
  };
  if (pointer !== null) {
    if (pointer.active === null) return null;
    if (await usable(pointer.active)) return pointer.active;
    for (const id of [...pointer.history].reverse()) if (await usable(id)) return id;
  }
  for (const v of versions) if (await usable(v.id)) return v.id;
  return null;
}
