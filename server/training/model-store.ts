// Per-workspace storage of fine-tuned models, with an atomic "active model" switch and rollback.
//
//   <root>/active.json         which version is served, and the versions active before it
//   <root>/versions/<id>/      one installed model directory (docs/model-format.md) + install.json
//   <root>/workspace.json      the workspace the models were trained on (for humans)
//
// The root is the caller's: the extension's storageUri in VS Code, defaultStoreRoot() for the CLI;
// never the user's repository. Crash safety comes from ordering, not from locks:
//  - a version appears only by renaming a complete, flushed, verified `<id>.tmp-<pid>-<n>` copy;
//  - active.json is only ever replaced by renaming a flushed `active.json.tmp-<pid>-<n>`, after the
//    version it names is in place, so it never names a missing or partial model;
//  - a version is deleted by first renaming it to a temp name, so a half-deleted one is never seen;
//  - recover() (run by open()) removes temp leftovers of dead processes and, should active.json
//    be unreadable or name something unusable, falls back to the previous valid version, then to
//    the newest valid one, then to the base model.
// Versions are signed with this user's store key and their files hashed; a version that does not
// match its record is never served.
//
// This file is the store's public face and runs its operations one at a time; each part has its
// own file:
//   model-store-install.ts     installing a candidate (copy or move, sign, verify, place, undo)
//   model-store-pointer.ts     active.json, its history, and which version is served
//   model-store-versions.ts    the versions/ folder: listing, ids, the hash check, deletion
//   model-store-integrity.ts   install records, the store key, MACs and SHA-256 checks
//   model-store-disk.ts        flushed writes, temp names, directory flushes
//   model-store-types.ts       the error type, versions, options
//   model-dir.ts               what a usable model directory holds

import { createHash } from 'node:crypto';
import { mkdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { defaultIO, isDiskFull, removeDeadTemps, tempSuffix } from './model-store-disk';
import { defaultStoreKeyFile } from './model-store-integrity';
import { installVersion } from './model-store-install';
import { chooseServed, freshPointer, pushHistory, readPointer, writePointer, type Pointer } from './model-store-pointer';
import {
  ModelStoreError,
  type ActiveModel,
  type InstallOptions,
  type ModelStoreOptions,
  type ModelVersion,
  type RecoveryReport,
  type StoreIO,
} from './model-store-types';
import { Versions, VERSIONS } from './model-store-versions';

export { defaultStoreKeyFile } from './model-store-integrity';
export * from './model-store-types';

/** `~/.diffill/workspaces/<hash of the workspace's real path>/`: the CLI's store for a workspace. */
export async function defaultStoreRoot(workspace: string, home: string = homedir()): Promise<string> {
  let path = resolve(workspace);
  try {
    path = await realpath(path);
  } catch {
    // A workspace that does not exist yet still gets a stable root.
  }
  const hash = createHash('sha256').update(path, 'utf8').digest('hex').slice(0, 16);
  return join(home, '.diffill', 'workspaces', hash);
}

export class ModelStore {
  private readonly io: StoreIO;
  private readonly versions: Versions;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: string,
    private readonly options: ModelStoreOptions,
  ) {
    this.io = { ...defaultIO, ...options.io };
    this.versions = new Versions(join(root, VERSIONS), options.keyFile ?? defaultStoreKeyFile());
  }

  /** Opens (creating if needed) the store at `root` and runs crash recovery; see `recovery`. */
  static async open(root: string, options: ModelStoreOptions = {}): Promise<ModelStore> {
    const abs = resolve(root);
    if (options.workspace !== undefined) {
      const ws = await realpath(resolve(options.workspace)).catch(() => resolve(options.workspace!));
      const parent = await realpath(abs).catch(() => abs);
      const rel = relative(ws, parent);
      if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
        throw new ModelStoreError('bad_root', `the model store ${abs} may not lie inside the workspace ${ws}`);
      }
    }
    try {
      await mkdir(join(abs, VERSIONS), { recursive: true });
    } catch (err) {
      throw new ModelStoreError(isDiskFull(err) ? 'disk_full' : 'bad_root', `cannot create the model store at ${abs}: ${(err as Error).message}`, { cause: err });
    }
    const store = new ModelStore(abs, options);
    if (options.workspace !== undefined) await store.recordWorkspace(resolve(options.workspace));
    store.recovery = await store.recover();
    return store;
  }

  /** What the recovery at open() found and did. */
  recovery: RecoveryReport = { removedTemp: [], repaired: false, before: null, after: null };

  /** Runs store operations one at a time within this process. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** All versions, newest first (invalid ones included and marked). */
  list(): Promise<ModelVersion[]> {
    return this.exclusive(async () => {
      const pointer = await readPointer(this.root);
      return this.versions.scan(pointer.ok ? pointer.value.active : null);
    });
  }

  /** The model to serve: the active store version when it is valid, else the base model. */
  active(): Promise<ActiveModel> {
    return this.exclusive(async () => {
      const pointer = await readPointer(this.root);
      const versions = await this.versions.scan(null);
      const id = await this.choose(pointer.ok ? pointer.value : null, versions);
      return this.describe(id);
    });
  }

  /**
   * Copies (or moves) a verified candidate model directory into the store and, unless told not
   * to, makes it active. On failure the store is as before: no new version, same active model.
   */
  install(candidateDir: string, options: InstallOptions = {}): Promise<ModelVersion> {
    return this.exclusive(async () => {
      const target = {
        root: this.root,
        versions: this.versions,
        io: this.io,
        checkFreeSpace: this.options.checkFreeSpace ?? true,
        makeActive: async (id: string) => {
          const pointer = await this.currentPointer();
          await this.writePointer(id, pushHistory(pointer.history, pointer.active, id));
        },
      };
      const id = await installVersion(target, resolve(candidateDir), options);
      const version = (await this.versions.scan((await this.currentPointer()).active)).find((v) => v.id === id);
      if (version === undefined) throw new ModelStoreError('io', `model version ${id} vanished after install`);
      return version;
    });
  }

  /** Makes an installed version active (the current one becomes the previous). */
  activate(id: string): Promise<ActiveModel> {
    return this.exclusive(async () => {
      const version = (await this.versions.scan(null)).find((v) => v.id === id);
      if (version === undefined) throw new ModelStoreError('not_found', `no model version ${id} in ${this.root}`);
      const problem = version.valid ? await this.versions.intact(version) : version.problem;
      if (problem) throw new ModelStoreError('invalid_candidate', `model version ${id} is damaged: ${problem}`);
      const pointer = await this.currentPointer();
      if (pointer.active !== id) await this.writePointer(id, pushHistory(pointer.history, pointer.active, id));
      return this.describe(id);
    });
  }

  /**
   * Goes back to the model that was active before the current one ("Use Previous Model"): the most
   * recent valid entry of the history, or the base model when there is none.
   */
  rollback(): Promise<ActiveModel> {
    return this.exclusive(async () => {
      const pointer = await this.currentPointer();
      const versions = await this.versions.scan(null);
      const history = [...pointer.history];
      while (history.length > 0) {
        const previous = history.pop()!;
        const version = versions.find((v) => v.id === previous);
        if (previous !== pointer.active && version !== undefined && version.valid && (await this.versions.intact(version)) === null) {
          await this.writePointer(previous, history);
          return this.describe(previous);
        }
      }
      if (pointer.active === null) {
        throw new ModelStoreError('nothing_to_roll_back', 'there is no previous model: the base model is already in use');
      }
      await this.writePointer(null, []);
      return this.describe(null);
    });
  }

  /**
   * Deletes all but the `keep` newest versions. The active version is always kept, and damaged
   * versions are deleted first. Returns the ids removed.
   */
  prune(keep: number): Promise<string[]> {
    if (!Number.isInteger(keep) || keep < 0) {
      return Promise.reject(new ModelStoreError('bad_argument', `prune: keep must be a whole number >= 0, got ${keep}`));
    }
    return this.exclusive(async () => {
      const pointer = await this.currentPointer();
      const versions = await this.versions.scan(pointer.active);
      const kept = new Set(versions.filter((v) => v.valid).slice(0, keep).map((v) => v.id));
      if (pointer.active !== null) kept.add(pointer.active);
      const doomed = versions.filter((v) => !kept.has(v.id));
      if (doomed.length === 0) return [];
      // The pointer stops naming them before any is deleted.
      const history = pointer.history.filter((id) => kept.has(id));
      if (history.length !== pointer.history.length) await this.writePointer(pointer.active, history);
      for (const v of doomed) {
        try {
          await this.versions.remove(v.id);
        } catch (err) {
          throw new ModelStoreError('io', `could not delete model version ${v.id}: ${(err as Error).message}`, { cause: err });
        }
      }
      return doomed.map((v) => v.id);
    });
  }

  /**
   * Startup recovery: removes temp leftovers of dead processes, and makes active.json name a valid
   * version (its previous valid one, else the newest valid one) or the base model.
   */
  recover(): Promise<RecoveryReport> {
    return this.exclusive(async () => {
      const removedTemp = await removeDeadTemps([[this.root, ''], [this.versions.dir, `${VERSIONS}/`]]);
      const pointer = await readPointer(this.root);
      const versions = await this.versions.scan(null);
      const before = pointer.ok ? pointer.value.active : null;
      const after = await this.choose(pointer.ok ? pointer.value : null, versions);
      const validIds = new Set(versions.filter((v) => v.valid).map((v) => v.id));
      // When falling back to an entry of the history, the entries after it were never "before" it.
      const original = pointer.ok ? pointer.value.history : [];
      const cut = after === null ? -1 : original.lastIndexOf(after);
      const history = (cut >= 0 ? original.slice(0, cut) : original).filter((id) => validIds.has(id) && id !== after);
      const fresh = pointer.missing && versions.length === 0;
      const repaired = !fresh && (!pointer.ok || after !== before || history.length !== original.length);
      if (repaired) {
        try {
          await this.writePointer(after, history);
        } catch (err) {
          // Serving does not depend on the repair (active() applies the same fallback), so a store
          // on a full or read-only disk still opens; the repair is retried at the next open.
          return { removedTemp, repaired: false, before, after, error: (err as Error).message };
        }
      }
      return { removedTemp, repaired, before, after };
    });
  }

  // ---- internals -------------------------------------------------------------------------------

  private choose(pointer: Pointer | null, versions: readonly ModelVersion[]): Promise<string | null> {
    return chooseServed(pointer, versions, (v) => this.versions.intact(v));
  }

  private describe(id: string | null): ActiveModel {
    if (id === null) return { source: 'base', dir: this.options.baseModelDir === undefined ? null : resolve(this.options.baseModelDir) };
    return { source: 'store', id, dir: join(this.versions.dir, id) };
  }

  /** The pointer, or what recovery would make of a missing or unreadable one. */
  private async currentPointer(): Promise<Pointer> {
    const p = await readPointer(this.root);
    if (p.ok) return p.value;
    return freshPointer(await this.choose(null, await this.versions.scan(null)));
  }

  private writePointer(active: string | null, history: readonly string[]): Promise<void> {
    return writePointer(this.root, this.io, active, history);
  }

  private async recordWorkspace(workspace: string): Promise<void> {
    const file = join(this.root, 'workspace.json');
    if (await stat(file).catch(() => null)) return;
    const temp = file + tempSuffix('tmp');
    try {
      await this.io.writeFile(temp, JSON.stringify({ workspace }, null, 2) + '\n');
      await rename(temp, file);
    } catch {
      // Informational only: a store without it works the same.
      await unlink(temp).catch(() => undefined);
    }
  }
}
