// The versions/ folder of a model store: one folder per installed model, named by the time of its
// install. Listing reads each version's install record and runs the cheap checks; the hash check
// (intact) runs only before a version is served. Versions are named here and deleted here.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteByRename, listFiles, TEMP_PATTERN } from './model-store-disk';
import { hashProblem, INSTALL_RECORD, readKey, recordProblem, type InstallRecord } from './model-store-integrity';
import type { ModelVersion } from './model-store-types';

/** The folder of versions inside the store's root. */
export const VERSIONS = 'versions';

/** A version id: the install time, with `-n` when two installs share a millisecond. */
const ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z(?:-\d+)?$/;

export class Versions {
  /** The store key once read (null: none yet, so no version can be verified). */
  private key: Buffer | null | undefined;
  /** Install records of the last scan, by id. */
  private readonly records = new Map<string, InstallRecord>();
  private lastId = '';

  constructor(
    /** `<root>/versions`. */
    readonly dir: string,
    readonly keyFile: string,
  ) {}

  /** The store key, read when first needed and again while there is none. */
  async storeKey(): Promise<Buffer | null> {
    if (this.key === undefined || this.key === null) this.key = await readKey(this.keyFile);
    return this.key;
  }

  /** The key an install has just created or read. */
  useKey(key: Buffer): void {
    this.key = key;
  }

  /** The cheap checks of a version folder against its install record (see recordProblem). */
  check(dir: string, id: string, record: InstallRecord): Promise<string | null> {
    return recordProblem(dir, id, record, () => this.storeKey(), this.keyFile);
  }

  /** All versions, newest first, invalid ones included and marked; `activeId`'s is marked active. */
  async scan(activeId: string | null): Promise<ModelVersion[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => ID_PATTERN.test(n));
    const versions: ModelVersion[] = [];
    for (const id of names) {
      const dir = join(this.dir, id);
      if (!(await stat(dir).catch(() => null))?.isDirectory()) continue;
      let record: InstallRecord | null = null;
      try {
        record = JSON.parse(await readFile(join(dir, INSTALL_RECORD), 'utf8')) as InstallRecord;
        if (typeof record !== 'object' || record === null) record = null;
      } catch {
        record = null;
      }
      if (record !== null) this.records.set(id, record);
      else this.records.delete(id);
      const problem = record === null ? 'install.json is missing or unreadable' : await this.check(dir, id, record);
      const bytes = (await listFiles(dir).catch(() => [])).filter((f) => f.rel !== INSTALL_RECORD).reduce((s, f) => s + f.size, 0);
      versions.push({
        id,
        dir,
        installedAt: typeof record?.installedAt === 'string' ? record.installedAt : idTime(id),
        bytes,
        valid: problem === null,
        ...(problem === null ? {} : { problem }),
        active: id === activeId,
        meta: record?.meta ?? {},
      });
    }
    return versions.sort((a, b) => (a.installedAt === b.installedAt ? (a.id < b.id ? 1 : -1) : a.installedAt < b.installedAt ? 1 : -1));
  }

  /**
   * The full check of a version that passed the cheap one, run before it is served: the files'
   * hashes. A version that fails is marked invalid.
   */
  async intact(version: ModelVersion): Promise<string | null> {
    const record = this.records.get(version.id);
    const problem = record === undefined ? 'install.json is missing or unreadable' : await hashProblem(version.dir, record);
    if (problem !== null) {
      version.valid = false;
      version.problem = problem;
    }
    return problem;
  }

  /** A fresh id from the current time, later than any id this store has. */
  async newId(): Promise<string> {
    const existing = (await readdir(this.dir)).map((n) => n.replace(TEMP_PATTERN, '')).filter((n) => ID_PATTERN.test(n));
    const base = new Date().toISOString().replace(/[:.]/g, '-');
    let id = base;
    for (let n = 1; existing.includes(id) || id === this.lastId; n++) id = `${base}-${n}`;
    this.lastId = id;
    return id;
  }

  /** Deletes a version by renaming it away first, so a crash never leaves a half-deleted model visible. */
  remove(id: string): Promise<void> {
    return deleteByRename(this.dir, id);
  }
}

function idTime(id: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z/.exec(id);
  return m === null ? '' : `${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`;
}
