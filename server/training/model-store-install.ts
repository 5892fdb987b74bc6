// Installing a candidate model into the store. A version appears only by renaming a complete,
// flushed, verified `<id>.tmp-<pid>-<n>` copy into versions/; it is made active (when asked) only
// after that. On any failure the store is as before: no new version, the same active model, and a
// candidate that was moved in goes back where it came from.

import { mkdir, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { modelDirProblem } from './model-dir';
import { isDiskFull, listFiles, syncDir, tempSuffix } from './model-store-disk';
import { createKey, hashProblem, INSTALL_RECORD, sha256File, signRecord, type InstallRecord } from './model-store-integrity';
import { ModelStoreError, type InstallOptions, type StoreIO } from './model-store-types';
import type { Versions } from './model-store-versions';

/** Room left free beyond the model's own size when installing. */
const FREE_SPACE_MARGIN = 1 << 20;

export interface InstallTarget {
  root: string;
  versions: Versions;
  io: StoreIO;
  /** Refuse to start when the model would not fit in the free space. */
  checkFreeSpace: boolean;
  /** Makes the new version active; called once it is in place, only when options.activate allows. */
  makeActive(id: string): Promise<void>;
}

/** Installs `candidate` (an absolute path) and returns the new version's id. */
export async function installVersion(target: InstallTarget, candidate: string, options: InstallOptions): Promise<string> {
  const { root, versions, io } = target;
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal);
  const problem = await modelDirProblem(candidate);
  if (problem !== null) {
    throw new ModelStoreError('invalid_candidate', `${candidate} is not a usable model directory: ${problem}`);
  }
  const files = await listFiles(candidate);
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  if (target.checkFreeSpace) {
    const fs = await statfs(root).catch(() => null);
    if (fs !== null && fs.bavail * fs.bsize < bytes + FREE_SPACE_MARGIN) {
      const free = fs.bavail * fs.bsize;
      throw new ModelStoreError('disk_full', `not enough free space in ${root}: the model needs ${mib(bytes)}, ${mib(free)} is free`);
    }
  }

  const id = await versions.newId();
  const temp = join(versions.dir, id + tempSuffix('tmp'));
  const final = join(versions.dir, id);
  let placed = false;
  let moved = false;
  try {
    if (options.move) {
      try {
        await rename(candidate, temp);
        moved = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      }
    }
    if (!moved) {
      await mkdir(temp);
      for (const f of files) {
        if (signal?.aborted) throw abortError(signal);
        if (f.rel.includes('/')) await mkdir(join(temp, f.rel, '..'), { recursive: true });
        await io.copyFile(join(candidate, f.rel), join(temp, f.rel));
      }
    }
    const key = await createKey(versions.keyFile).catch((err: unknown) => {
      throw new ModelStoreError('io', `cannot create the store key ${versions.keyFile}: ${(err as Error).message}`, { cause: err });
    });
    versions.useKey(key);
    const sha256: Record<string, string> = {};
    for (const f of files) {
      if (signal?.aborted) throw abortError(signal);
      sha256[f.rel] = await sha256File(join(temp, f.rel));
    }
    const unsigned: Omit<InstallRecord, 'mac'> = {
      id,
      installedAt: new Date().toISOString(),
      source: candidate,
      files: Object.fromEntries(files.map((f) => [f.rel, f.size])),
      sha256,
      meta: options.meta ?? {},
    };
    const record = signRecord(unsigned, key);
    await io.writeFile(join(temp, INSTALL_RECORD), JSON.stringify(record, null, 2) + '\n');
    const copied = (await versions.check(temp, id, record)) ?? (await hashProblem(temp, record));
    if (copied !== null) throw new ModelStoreError('io', `the copy of ${candidate} is damaged: ${copied}`);
    await syncDir(temp);
    if (signal?.aborted) throw abortError(signal);
    await rename(temp, final);
    placed = true;
    await syncDir(versions.dir);
    if (options.activate ?? true) await target.makeActive(id);
  } catch (err) {
    // Undo: the previous active model stays; a version that never became active is removed, and a
    // moved candidate goes back where it came from.
    if (moved && !placed) {
      await rm(join(temp, INSTALL_RECORD), { force: true }).catch(() => undefined);
      await rename(temp, candidate).catch(() => undefined);
    }
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (placed && moved) {
      await rm(join(final, INSTALL_RECORD), { force: true }).catch(() => undefined);
      await rename(final, candidate).catch(() => undefined);
    } else if (placed) {
      await versions.remove(id).catch(() => undefined);
    }
    if (err instanceof ModelStoreError || (err as Error).name === 'AbortError' || err === signal?.reason) throw err;
    if (isDiskFull(err)) {
      throw new ModelStoreError('disk_full', `the disk is full: could not install the model into ${root}; the previous model is still active`, { cause: err });
    }
    throw new ModelStoreError('io', `could not install the model into ${root}: ${(err as Error).message}`, { cause: err });
  }
  return id;
}

function abortError(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const err = new Error('the install was aborted');
  err.name = 'AbortError';
  return err;
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
