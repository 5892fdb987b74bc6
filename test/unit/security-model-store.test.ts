// A model store serves only what it installed itself: install.json lists every file with its SHA-256
// under an HMAC of this user's store key, checked before a version is served. A version planted in
// the store, or an installed one whose files were changed, is never served, neither as the active
// model nor through "Use Previous Model".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createConnection, createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { loadEngine } from '../../server/src/lsp/engine-adapter';
import { startServer } from '../../server/src/lsp/server';
import { UsePreviousModelRequest } from '../../server/src/protocol';
import { ModelStore, ModelStoreError } from '../../server/training/model-store';
import { ROOT } from '../helpers/tiny-model';

const SHIPPED = join(ROOT, 'models', 'default');
let scratch = '';
let keyFile = '';

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'diffill-store-integrity-'));
  keyFile = join(scratch, 'key', 'store.key');
});
after(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
/** A small complete model directory; `tag` makes its bytes distinct. */
function makeModel(tag: string): string {
  const dir = join(scratch, `candidate-${tag}-${n++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ format: 'diffill-mdm', format_version: 1, name: tag, tokenizer: 'tokenizer.json', weights: { file: 'model.safetensors' }, onnx: { file: 'model.onnx' } }));
  writeFileSync(join(dir, 'tokenizer.json'), '{"model":{"type":"BPE"}}');
  writeFileSync(join(dir, 'model.onnx'), Buffer.alloc(2048, tag.charCodeAt(0)));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.from(`weights of ${tag}`));
  return dir;
}

/** What someone without the key can do: a model directory with an install record of the old kind, or a copied one. */
function plant(root: string, id: string, record: Record<string, unknown> | null): string {
  const dir = join(root, 'versions', id);
  cpSync(makeModel('planted'), dir, { recursive: true });
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));
  writeFileSync(join(dir, 'install.json'), JSON.stringify(record ?? { id, installedAt: new Date().toISOString(), source: '/x', files, meta: {} }));
  return dir;
}

function setPointer(root: string, active: string | null, history: string[]): void {
  writeFileSync(join(root, 'active.json'), JSON.stringify({ format: 'diffill-model-store', version: 1, active, history, updatedAt: '' }));
}

test('install writes a signed record with every file hash; the key file is owner-only', async () => {
  const root = join(scratch, 'store-record');
  const store = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile });
  const v = await store.install(makeModel('a'));
  const record = JSON.parse(readFileSync(join(v.dir, 'install.json'), 'utf8'));
  assert.deepEqual(Object.keys(record.sha256).sort(), ['config.json', 'model.onnx', 'model.safetensors', 'tokenizer.json']);
  assert.match(record.mac, /^[0-9a-f]{64}$/);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.deepEqual(await store.active(), { source: 'store', id: v.id, dir: v.dir });
});

test('a planted version is never served: not as the active model, not by rollback, not by recovery', async () => {
  const root = join(scratch, 'store-planted');
  const store = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile });
  const good = await store.install(makeModel('g'));
  const unsigned = plant(root, '2031-01-01T00-00-00-000Z', null);
  // A real record copied from the good version: signed, but not for these files or this id.
  const copied = plant(root, '2032-01-01T00-00-00-000Z', JSON.parse(readFileSync(join(good.dir, 'install.json'), 'utf8')));
  for (const planted of [unsigned, copied]) {
    const id = planted.split('/').pop()!;
    setPointer(root, id, []);
    assert.deepEqual(await store.active(), { source: 'store', id: good.id, dir: good.dir }, 'active: falls back to the installed version');
    setPointer(root, good.id, [id]);
    assert.deepEqual(await store.rollback(), { source: 'base', dir: SHIPPED }, 'rollback skips the planted version');
    await assert.rejects(store.activate(id), (e: unknown) => e instanceof ModelStoreError && e.kind === 'invalid_candidate');
    const listed = (await store.list()).find((v) => v.id === id)!;
    assert.equal(listed.valid, false);
    if (planted === unsigned) assert.match(listed.problem ?? '', /not installed by this store \(install\.json has no integrity record\)/);
  }
  setPointer(root, 'garbage', []);
  const reopened = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile });
  assert.equal(reopened.recovery.after, good.id);
});

test('an installed version whose files changed is never served', async () => {
  const root = join(scratch, 'store-tampered');
  const store = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile });
  const v1 = await store.install(makeModel('a'));
  const v2 = await store.install(makeModel('b'));
  // Same size, other bytes: only the hash tells.
  writeFileSync(join(v1.dir, 'model.onnx'), Buffer.alloc(2048, 'z'.charCodeAt(0)));
  assert.deepEqual(await store.rollback(), { source: 'base', dir: SHIPPED }, 'rollback skips the changed version');
  await store.activate(v2.id);
  // A file added to a version is refused as well.
  writeFileSync(join(v2.dir, 'extra.onnx'), 'x');
  assert.deepEqual(await store.active(), { source: 'base', dir: SHIPPED });
  assert.match((await store.list()).find((v) => v.id === v2.id)!.problem ?? '', /extra\.onnx was not part of the install/);
});

test("versions signed with another user's key are not served", async () => {
  const root = join(scratch, 'store-other-key');
  const store = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile: join(scratch, 'other', 'store.key') });
  await store.install(makeModel('o'));
  const mine = await ModelStore.open(root, { baseModelDir: SHIPPED, keyFile });
  assert.deepEqual(await mine.active(), { source: 'base', dir: SHIPPED });
});

test('"Use Previous Model" through the language server does not serve a planted version', async () => {
  const home = join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  process.env['HOME'] = home;
  const workspace = join(scratch, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const root = join(scratch, 'editor-storage', 'models');
  mkdirSync(join(root, 'versions'), { recursive: true });
  // A real model (the shipped one) with an install record that matches its files, but is not signed.
  const id = '2033-01-01T00-00-00-000Z';
  const planted = join(root, 'versions', id);
  cpSync(SHIPPED, planted, { recursive: true });
  const files = Object.fromEntries(readdirSync(planted).map((f) => [f, statSync(join(planted, f)).size]));
  writeFileSync(join(planted, 'install.json'), JSON.stringify({ id, installedAt: new Date().toISOString(), source: '/x', files, sha256: {}, meta: {}, mac: '0'.repeat(64) }));
  setPointer(root, null, [id]);

  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const server = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  startServer(server, { defaultModelDir: SHIPPED, loader: loadEngine, version: 'test' });
  server.listen();
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  client.listen();
  try {
    await client.sendRequest('initialize', {
      processId: null,
      rootUri: null,
      capabilities: {},
      initializationOptions: { settings: { threads: 1 }, finetune: { workspace, storageDir: root } },
    });
    await client.sendNotification('initialized', {});
    const outcome = await client.sendRequest(UsePreviousModelRequest, { workspace, storageDir: root }).then(
      (r) => r.modelDir,
      (e: unknown) => (e instanceof ResponseError ? e.message : String(e)),
    );
    assert.notEqual(outcome, planted, 'the planted version was served');
    assert.match(outcome, /no previous model|base model/);
    assert.equal(existsSync(planted), true);
  } finally {
    await client.sendRequest('shutdown').catch(() => undefined);
    client.dispose();
  }
});
