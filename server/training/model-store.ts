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
//
// Integrity: install.json lists every file of a version with its size and SHA-256, and carries an
// HMAC-SHA256 of that list made with this user's store key (~/.diffill/store.key, created owner-only
// at the first install). A version whose record is missing, forged or does not match its files (a
// file changed, added or removed after the install) is invalid and never served: the record is
// checked whenever the store is read, and the files' hashes before a version is served (active,
// activate, rollback, recovery). A version planted in the store by anyone without the key is refused.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, realpath, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { jsonSyntaxProblem } from '../engine/errors';

/** The files every model directory must have (docs/model-format.md). */
export const REQUIRED_MODEL_FILES = ['config.json', 'tokenizer.json', 'model.onnx', 'model.safetensors'] as const;

const POINTER = 'active.json';
const VERSIONS = 'versions';
const INSTALL_RECORD = 'install.json';
const POINTER_FORMAT = 'diffill-model-store';
const HISTORY_LIMIT = 20;
const ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z(?:-\d+)?$/;
const TEMP_PATTERN = /\.tmp-(?:del-)?(\d+)-[0-9a-f]+$/;
/** Room left free beyond the model's own size when installing. */
const FREE_SPACE_MARGIN = 1 << 20;

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

interface Pointer {
  format: typeof POINTER_FORMAT;
  version: 1;
  active: string | null;
  /** Versions active before, oldest first. */
  history: string[];
  updatedAt: string;
}

interface InstallRecord {
  id: string;
  installedAt: string;
  source: string;
  /** Size of every file, to tell a damaged copy from a complete one. */
  files: Record<string, number>;
  /** SHA-256 (hex) of every file: checked before the version is served. */
  sha256: Record<string, string>;
  meta: Record<string, unknown>;
  /** HMAC-SHA256 (hex) of all the fields above under the store key: only this user's installs are served. */
  mac: string;
}

/** `~/.diffill/store.key`: the secret that signs this user's install records, in every store. */
export function defaultStoreKeyFile(home: string = homedir()): string {
  return join(home, '.diffill', 'store.key');
}

async function readKey(file: string): Promise<Buffer | null> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : null;
  } catch {
    return null;
  }
}

/** The store key, created (owner-only) when there is none yet. */
async function createKey(file: string): Promise<Buffer> {
  const existing = await readKey(file);
  if (existing !== null) return existing;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(key.toString('hex') + '\n', 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // Another process is creating it: wait for its content.
  for (let i = 0; i < 40; i++) {
    const k = await readKey(file);
    if (k !== null) return k;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the store key ${file} is not readable (64 hexadecimal digits expected)`);
}

/** JSON with object keys sorted, so a record's MAC does not depend on key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function recordMac(record: Omit<InstallRecord, 'mac'>, key: Buffer): string {
  const { id, installedAt, source, files, sha256, meta } = record;
  return createHmac('sha256', key).update(canonical({ id, installedAt, source, files, sha256, meta })).digest('hex');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hashes already computed, by file identity (a change to the file changes its ctime). */
const hashCache = new Map<string, { stamp: string; sha256: string }>();

async function cachedSha256(file: string): Promise<string> {
  const s = await stat(file);
  const stamp = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  const hit = hashCache.get(file);
  if (hit !== undefined && hit.stamp === stamp) return hit.sha256;
  const sha256 = await sha256File(file);
  hashCache.set(file, { stamp, sha256 });
  return sha256;
}

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

/**
 * Checks that `dir` is a complete model directory: the four required files are non-empty regular
 * files, config.json parses with format "diffill-mdm", and the files it names exist. Returns the
 * problem, or null when the directory is usable.
 */
export async function modelDirProblem(dir: string): Promise<string | null> {
  for (const name of REQUIRED_MODEL_FILES) {
    try {
      const s = await stat(join(dir, name));
      if (!s.isFile()) return `${name} is not a file`;
      if (s.size === 0) return `${name} is empty`;
    } catch {
      return `${name} is missing`;
    }
  }
  let config: unknown;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch (err) {
    return `config.json is ${jsonSyntaxProblem(err)}`;
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return 'config.json is not a JSON object';
  const c = config as Record<string, unknown>;
  if (c['format'] !== 'diffill-mdm') return `config.json format is ${JSON.stringify(c['format'])}, expected "diffill-mdm"`;
  const named = [c['tokenizer'], (c['weights'] as Record<string, unknown> | undefined)?.['file'], (c['onnx'] as Record<string, unknown> | undefined)?.['file']];
  for (const file of named) {
    if (file === undefined) continue;
    if (typeof file !== 'string' || file === '' || isAbsolute(file) || relative(dir, join(dir, file)).startsWith('..')) {
      return `config.json names an invalid file ${JSON.stringify(file)}`;
    }
    try {
      if (!(await stat(join(dir, file))).isFile()) return `${file} (named in config.json) is not a file`;
      // Where it really lies: a symbolic link may not lead out of the model directory.
      const rel = relative(await realpath(dir), await realpath(join(dir, file)));
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return `${file} (named in config.json) lies outside the model directory`;
    } catch {
      return `${file} (named in config.json) is missing`;
    }
  }
  return null;
}

const isDiskFull = (err: unknown): boolean => {
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

function tempSuffix(kind: 'tmp' | 'del'): string {
  return `.tmp-${kind === 'del' ? 'del-' : ''}${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Flushes a directory's entries (renames, creations) to disk; not possible on Windows, where it is skipped. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const defaultIO: StoreIO = {
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

function abortError(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const err = new Error('the install was aborted');
  err.name = 'AbortError';
  return err;
}

export class ModelStore {
  private readonly io: StoreIO;
  private queue: Promise<unknown> = Promise.resolve();
  private lastId = '';
  private readonly keyFile: string;
  /** The store key once read (null: none yet, so no version can be verified). */
  private key: Buffer | null | undefined;
  /** Install records of the last scan, by id. */
  private readonly records = new Map<string, InstallRecord>();

  private constructor(
    readonly root: string,
    private readonly options: ModelStoreOptions,
  ) {
    this.io = { ...defaultIO, ...options.io };
    this.keyFile = options.keyFile ?? defaultStoreKeyFile();
  }

  private async readKey(): Promise<Buffer | null> {
    if (this.key === undefined || this.key === null) this.key = await readKey(this.keyFile);
    return this.key;
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

  private get versionsDir(): string {
    return join(this.root, VERSIONS);
  }

  /** Runs store operations one at a time within this process. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** All versions, newest first (invalid ones included and marked). */
  list(): Promise<ModelVersion[]> {
    return this.exclusive(async () => {
      const pointer = await this.readPointer();
      return this.scan(pointer.ok ? pointer.value.active : null);
    });
  }

  /** The model to serve: the active store version when it is valid, else the base model. */
  active(): Promise<ActiveModel> {
    return this.exclusive(async () => {
      const pointer = await this.readPointer();
      const versions = await this.scan(null);
      const id = await this.choose(pointer.ok ? pointer.value : null, versions);
      return this.describe(id);
    });
  }

  /**
   * Copies (or moves) a verified candidate model directory into the store and, unless told not
   * to, makes it active. On failure the store is as before: no new version, same active model.
   */
  install(candidateDir: string, options: InstallOptions = {}): Promise<ModelVersion> {
    return this.exclusive(() => this.installLocked(resolve(candidateDir), options));
  }

  /** Makes an installed version active (the current one becomes the previous). */
  activate(id: string): Promise<ActiveModel> {
    return this.exclusive(async () => {
      const version = (await this.scan(null)).find((v) => v.id === id);
      if (version === undefined) throw new ModelStoreError('not_found', `no model version ${id} in ${this.root}`);
      const problem = version.valid ? await this.intact(version) : version.problem;
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
      const versions = await this.scan(null);
      const history = [...pointer.history];
      while (history.length > 0) {
        const previous = history.pop()!;
        const version = versions.find((v) => v.id === previous);
        if (previous !== pointer.active && version !== undefined && version.valid && (await this.intact(version)) === null) {
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
      const versions = await this.scan(pointer.active);
      const kept = new Set(versions.filter((v) => v.valid).slice(0, keep).map((v) => v.id));
      if (pointer.active !== null) kept.add(pointer.active);
      const doomed = versions.filter((v) => !kept.has(v.id));
      if (doomed.length === 0) return [];
      // The pointer stops naming them before any is deleted.
      const history = pointer.history.filter((id) => kept.has(id));
      if (history.length !== pointer.history.length) await this.writePointer(pointer.active, history);
      for (const v of doomed) {
        try {
          await this.deleteVersion(v.id);
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
      const removedTemp: string[] = [];
      for (const [dir, prefix] of [[this.root, ''], [this.versionsDir, `${VERSIONS}/`]] as const) {
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          const m = TEMP_PATTERN.exec(name);
          if (m === null || pidAlive(Number(m[1]))) continue;
          await rm(join(dir, name), { recursive: true, force: true });
          removedTemp.push(prefix + name);
        }
      }
      const pointer = await this.readPointer();
      const versions = await this.scan(null);
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

  private async installLocked(candidate: string, options: InstallOptions): Promise<ModelVersion> {
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal);
    const problem = await modelDirProblem(candidate);
    if (problem !== null) {
      throw new ModelStoreError('invalid_candidate', `${candidate} is not a usable model directory: ${problem}`);
    }
    const files = await listFiles(candidate);
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    if (this.options.checkFreeSpace ?? true) {
      const fs = await statfs(this.root).catch(() => null);
      if (fs !== null && fs.bavail * fs.bsize < bytes + FREE_SPACE_MARGIN) {
        const free = fs.bavail * fs.bsize;
        throw new ModelStoreError('disk_full', `not enough free space in ${this.root}: the model needs ${mib(bytes)}, ${mib(free)} is free`);
      }
    }

    const id = await this.newId();
    const temp = join(this.versionsDir, id + tempSuffix('tmp'));
    const final = join(this.versionsDir, id);
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
          await this.io.copyFile(join(candidate, f.rel), join(temp, f.rel));
        }
      }
      const key = await createKey(this.keyFile).catch((err: unknown) => {
        throw new ModelStoreError('io', `cannot create the store key ${this.keyFile}: ${(err as Error).message}`, { cause: err });
      });
      this.key = key;
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
      const record: InstallRecord = { ...unsigned, mac: recordMac(unsigned, key) };
      await this.io.writeFile(join(temp, INSTALL_RECORD), JSON.stringify(record, null, 2) + '\n');
      const copied = (await this.check(temp, id, record)) ?? (await this.hashProblem(temp, record));
      if (copied !== null) throw new ModelStoreError('io', `the copy of ${candidate} is damaged: ${copied}`);
      await syncDir(temp);
      if (signal?.aborted) throw abortError(signal);
      await rename(temp, final);
      placed = true;
      await syncDir(this.versionsDir);
      if (options.activate ?? true) {
        const pointer = await this.currentPointer();
        await this.writePointer(id, pushHistory(pointer.history, pointer.active, id));
      }
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
        await this.deleteVersion(id).catch(() => undefined);
      }
      if (err instanceof ModelStoreError || (err as Error).name === 'AbortError' || err === signal?.reason) throw err;
      if (isDiskFull(err)) {
        throw new ModelStoreError('disk_full', `the disk is full: could not install the model into ${this.root}; the previous model is still active`, { cause: err });
      }
      throw new ModelStoreError('io', `could not install the model into ${this.root}: ${(err as Error).message}`, { cause: err });
    }
    const version = (await this.scan((await this.currentPointer()).active)).find((v) => v.id === id);
    if (version === undefined) throw new ModelStoreError('io', `model version ${id} vanished after install`);
    return version;
  }

  /** A fresh id from the current time, later than any id this store has. */
  private async newId(): Promise<string> {
    const existing = (await readdir(this.versionsDir)).map((n) => n.replace(TEMP_PATTERN, '')).filter((n) => ID_PATTERN.test(n));
    const base = new Date().toISOString().replace(/[:.]/g, '-');
    let id = base;
    for (let n = 1; existing.includes(id) || id === this.lastId; n++) id = `${base}-${n}`;
    this.lastId = id;
    return id;
  }

  /**
   * The cheap checks of a version (no hashing): a complete model directory, the files of its install
   * record with their sizes and nothing else, and a record signed with this user's store key.
   */
  private async check(dir: string, id: string, record: InstallRecord): Promise<string | null> {
    const problem = await modelDirProblem(dir);
    if (problem !== null) return problem;
    if (typeof record.files !== 'object' || record.files === null) return 'install.json lists no files';
    for (const [rel, size] of Object.entries(record.files)) {
      const s = await stat(join(dir, rel)).catch(() => null);
      if (s === null) return `${rel} is missing`;
      if (s.size !== size) return `${rel} has ${s.size} bytes, ${size} were installed`;
    }
    for (const f of await listFiles(dir)) {
      if (f.rel !== INSTALL_RECORD && !Object.hasOwn(record.files, f.rel)) return `${f.rel} was not part of the install`;
    }
    const key = await this.readKey();
    if (key === null) return `it cannot be verified: the store key ${this.keyFile} is missing`;
    const sha = record.sha256;
    if (typeof record.mac !== 'string' || typeof sha !== 'object' || sha === null || Object.keys(record.files).some((rel) => typeof sha[rel] !== 'string')) {
      return 'it was not installed by this store (install.json has no integrity record)';
    }
    const expected = Buffer.from(recordMac(record, key), 'hex');
    const given = Buffer.from(record.mac, 'hex');
    if (record.id !== id || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'it was not installed by this store (install.json fails its integrity check)';
    }
    return null;
  }

  /** Compares every file with the SHA-256 its install record holds. */
  private async hashProblem(dir: string, record: InstallRecord): Promise<string | null> {
    for (const rel of Object.keys(record.files)) {
      const got = await cachedSha256(join(dir, rel)).catch(() => null);
      if (got !== record.sha256[rel]) return `${rel} changed after the install (its SHA-256 does not match)`;
    }
    return null;
  }

  /**
   * The full check of a version that passed the cheap one, run before it is served: the files'
   * hashes. A version that fails is marked invalid.
   */
  private async intact(version: ModelVersion): Promise<string | null> {
    const record = this.records.get(version.id);
    const problem = record === undefined ? 'install.json is missing or unreadable' : await this.hashProblem(version.dir, record);
    if (problem !== null) {
      version.valid = false;
      version.problem = problem;
    }
    return problem;
  }

  private async scan(activeId: string | null): Promise<ModelVersion[]> {
    const names = (await readdir(this.versionsDir).catch(() => [] as string[])).filter((n) => ID_PATTERN.test(n));
    const versions: ModelVersion[] = [];
    for (const id of names) {
      const dir = join(this.versionsDir, id);
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
   * The version to serve for a pointer: its active one if valid, else its latest valid previous, else
   * the newest valid, else base. "Valid" includes the hash check here: this decides what is served.
   */
  private async choose(pointer: Pointer | null, versions: readonly ModelVersion[]): Promise<string | null> {
    const usable = async (id: string): Promise<boolean> => {
      const v = versions.find((x) => x.id === id);
      return v !== undefined && v.valid && (await this.intact(v)) === null;
    };
    if (pointer !== null) {
      if (pointer.active === null) return null;
      if (await usable(pointer.active)) return pointer.active;
      for (const id of [...pointer.history].reverse()) if (await usable(id)) return id;
    }
    for (const v of versions) if (await usable(v.id)) return v.id;
    return null;
  }

  private describe(id: string | null): ActiveModel {
    if (id === null) return { source: 'base', dir: this.options.baseModelDir === undefined ? null : resolve(this.options.baseModelDir) };
    return { source: 'store', id, dir: join(this.versionsDir, id) };
  }

  private async readPointer(): Promise<{ ok: true; value: Pointer; missing: false } | { ok: false; missing: boolean }> {
    let text: string;
    try {
      text = await readFile(join(this.root, POINTER), 'utf8');
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

  /** The pointer, or what recovery would make of a missing or unreadable one. */
  private async currentPointer(): Promise<Pointer> {
    const p = await this.readPointer();
    if (p.ok) return p.value;
    return { format: POINTER_FORMAT, version: 1, active: await this.choose(null, await this.scan(null)), history: [], updatedAt: '' };
  }

  /** Replaces active.json atomically: write a temp file, flush it, rename over, flush the directory. */
  private async writePointer(active: string | null, history: readonly string[]): Promise<void> {
    const pointer: Pointer = {
      format: POINTER_FORMAT,
      version: 1,
      active,
      history: history.slice(-HISTORY_LIMIT),
      updatedAt: new Date().toISOString(),
    };
    const temp = join(this.root, POINTER + tempSuffix('tmp'));
    try {
      await this.io.writeFile(temp, JSON.stringify(pointer, null, 2) + '\n');
      await rename(temp, join(this.root, POINTER));
      await syncDir(this.root);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      if (isDiskFull(err)) {
        throw new ModelStoreError('disk_full', `the disk is full: could not switch the active model in ${this.root}; the previous model is still active`, { cause: err });
      }
      throw err;
    }
  }

  /** Deletes a version by renaming it away first, so a crash never leaves a half-deleted model visible. */
  private async deleteVersion(id: string): Promise<void> {
    const doomed = join(this.versionsDir, id + tempSuffix('del'));
    await rename(join(this.versionsDir, id), doomed);
    await syncDir(this.versionsDir);
    await rm(doomed, { recursive: true, force: true });
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

function pushHistory(history: readonly string[], previous: string | null, next: string): string[] {
  const h = history.filter((id) => id !== previous && id !== next);
  if (previous !== null && previous !== next) h.push(previous);
  return h.slice(-HISTORY_LIMIT);
}

async function listFiles(dir: string, prefix = ''): Promise<Array<{ rel: string; size: number }>> {
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

function idTime(id: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z/.exec(id);
  return m === null ? '' : `${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`;
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
