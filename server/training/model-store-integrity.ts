// Integrity of installed versions. install.json lists every file of a version with its size and
// SHA-256, and carries an HMAC-SHA256 of that list made with this user's store key
// (~/.diffill/store.key, created owner-only at the first install). A version whose record is missing,
// forged or does not match its files (a file changed, added or removed after the install) is invalid
// and never served: the record is checked whenever the store is read (recordProblem, no hashing),
// and the files' hashes before a version is served (hashProblem). A version planted in the store by
// anyone without the key is refused.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { modelDirProblem } from './model-dir';
import { listFiles } from './model-store-disk';

/** The record's file name inside each version folder. */
export const INSTALL_RECORD = 'install.json';

export interface InstallRecord {
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

/** The store key, or null when the file is missing or does not hold 64 hexadecimal digits. */
export async function readKey(file: string): Promise<Buffer | null> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : null;
  } catch {
    return null;
  }
}

/** The store key, created (owner-only) when there is none yet. */
export async function createKey(file: string): Promise<Buffer> {
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

/** The record with its MAC under `key`. */
export function signRecord(unsigned: Omit<InstallRecord, 'mac'>, key: Buffer): InstallRecord {
  return { ...unsigned, mac: recordMac(unsigned, key) };
}

export async function sha256File(file: string): Promise<string> {
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

/**
 * The cheap checks of a version (no hashing): a complete model directory, the files of its install
 * record with their sizes and nothing else, and a record signed with this user's store key. The key is
 * asked for only when the files pass (null: there is none yet at `keyFile`).
 */
export async function recordProblem(
  dir: string,
  id: string,
  record: InstallRecord,
  storeKey: () => Promise<Buffer | null>,
  keyFile: string,
): Promise<string | null> {
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
  const key = await storeKey();
  if (key === null) return `it cannot be verified: the store key ${keyFile} is missing`;
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
export async function hashProblem(dir: string, record: InstallRecord): Promise<string | null> {
  for (const rel of Object.keys(record.files)) {
    const got = await cachedSha256(join(dir, rel)).catch(() => null);
    if (got !== record.sha256[rel]) return `${rel} changed after the install (its SHA-256 does not match)`;
  }
  return null;
}
