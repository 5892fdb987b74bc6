// What a client may ask of the language server's fine-tuning (docs/security.md): only the folders the
// editor announced (initialize, workspace/didChangeWorkspaceFolders) and files inside them, only the
// store announced for them, and a Python interpreter only from the request or the server's command
// line. Everything else is refused before anything is created, read or run, and a failed request
// leaves no store folder behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  createConnection,
  createMessageConnection,
  ErrorCodes,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-languageserver/node';
import { loadEngine } from '../../server/src/lsp/engine-adapter';
import { startServer, type ServerOptions } from '../../server/src/lsp/server';
import { FinetuneRequest, UsePreviousModelRequest, type FinetuneParams } from '../../server/src/protocol';
import { defaultStoreRoot } from '../../server/training/model-store';
import { ROOT } from '../helpers/tiny-model';

let scratch = '';
let workspace = '';
let other = '';
let home = '';
const clients: MessageConnection[] = [];

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'diffill-scope-'));
  // The CLI's default stores live under ~/.diffill: a home of the test's own, to see what is created.
  home = join(scratch, 'home');
  mkdirSync(home);
  process.env['HOME'] = home;
  workspace = join(scratch, 'project');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  writeFileSync(join(workspace, 'src', 'a.ts'), 'export const a = 1;\n'.repeat(50));
  writeFileSync(join(workspace, 'facts.txt'), 'The harbor opens at six.\n');
  other = join(scratch, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'facts.txt'), 'secret\n');
});

after(async () => {
  for (const c of clients) {
    await c.sendRequest('shutdown').catch(() => undefined);
    c.dispose();
  }
  rmSync(scratch, { recursive: true, force: true });
});

interface Start {
  init?: Record<string, unknown>;
  options?: Partial<ServerOptions>;
  capabilities?: Record<string, unknown>;
  /** Answers workspace/configuration (section diffill). */
  configuration?: Record<string, unknown>;
}

async function start({ init = {}, options = {}, capabilities = {}, configuration }: Start = {}): Promise<MessageConnection> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const server = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  startServer(server, { defaultModelDir: join(ROOT, 'models', 'default'), loader: loadEngine, version: 'test', ...options });
  server.listen();
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  if (configuration !== undefined) client.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => configuration));
  client.onRequest('client/registerCapability', () => null);
  client.listen();
  clients.push(client);
  await client.sendRequest('initialize', { processId: null, rootUri: null, capabilities, ...init });
  await client.sendNotification('initialized', {});
  return client;
}

async function refusal(p: Promise<unknown>): Promise<ResponseError<unknown>> {
  return p.then(
    () => assert.fail('the request should have been refused'),
    (e: unknown) => {
      assert.ok(e instanceof ResponseError, String(e));
      return e;
    },
  );
}

const folders = (...paths: string[]) => ({ workspaceFolders: paths.map((p) => ({ uri: pathToFileURL(p).href, name: p })) });
const job = (params: Partial<FinetuneParams>) => ({ steps: 1, device: 'cpu' as const, ...params }) as FinetuneParams;

test('a workspace the editor did not open is refused, and nothing is created for it', async () => {
  const client = await start({ init: folders(workspace) });
  const err = await refusal(client.sendRequest(FinetuneRequest, job({ workspace: '/etc' })));
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /the workspace \/etc is not one of the folders open in the editor/);
  assert.equal(existsSync(await defaultStoreRoot('/etc')), false, 'no store was created for /etc');
  const rel = await refusal(client.sendRequest(FinetuneRequest, job({ workspace: 'project' })));
  assert.match(rel.message, /must be an absolute folder path/);
  const prev = await refusal(client.sendRequest(UsePreviousModelRequest, { workspace: other }));
  assert.match(prev.message, /not one of the folders open in the editor/);
});

test('a facts file outside the open folders is refused', async () => {
  const client = await start({ init: folders(workspace) });
  for (const facts of ['/etc/passwd', join(other, 'facts.txt'), '../other/facts.txt']) {
    const err = await refusal(client.sendRequest(FinetuneRequest, job({ workspace, facts })));
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.match(err.message, /is not inside a folder open in the editor/, facts);
  }
  const missing = await refusal(client.sendRequest(FinetuneRequest, job({ workspace, facts: 'no-such.txt' })));
  assert.match(missing.message, /is not a file/);
});

test('a request without a workspace, for an announced folder that does not exist, creates nothing', async () => {
  const ghost = join(scratch, 'no-such-folder');
  const client = await start({ init: { initializationOptions: { finetune: { workspace: ghost } } } });
  const err = await refusal(client.sendRequest(FinetuneRequest, job({})));
  assert.equal(err.code, ErrorCodes.InvalidParams);
  assert.match(err.message, /no-such-folder is not a folder/);
  assert.equal(existsSync(await defaultStoreRoot(ghost)), false);
  assert.deepEqual(readdirSync(home), [], 'nothing under the home folder');
});

test('only the store announced at initialize may be named', async () => {
  const store = join(scratch, 'announced-store');
  const client = await start({ init: { ...folders(workspace), initializationOptions: { finetune: { workspace, storageDir: store } } } });
  for (const storageDir of [join(scratch, 'elsewhere'), join(workspace, 'models'), '/etc']) {
    const err = await refusal(client.sendRequest(FinetuneRequest, job({ workspace, storageDir })));
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.match(err.message, /storageDir may only be the storage folder the editor announced/);
    assert.equal(existsSync(storageDir) && storageDir !== '/etc', false);
  }
});

test('a failed request leaves no store folder behind', async () => {
  const store = join(scratch, 'store-of-a-failed-job');
  const client = await start({ init: { ...folders(workspace), initializationOptions: { finetune: { workspace, storageDir: store } } } });
  const err = await refusal(client.sendRequest(FinetuneRequest, job({ workspace, python: join(scratch, 'no-such-python') })));
  assert.equal((err.data as { kind?: string } | undefined)?.kind, 'missing_python', err.message);
  assert.equal(existsSync(store), false, 'the store folder made for the job was removed');
});

test('folders added later are accepted, folders removed are refused', async () => {
  const client = await start({ init: folders(workspace), capabilities: { workspace: { workspaceFolders: true } } });
  const event = (added: string[], removed: string[]) => ({
    event: { added: folders(...added).workspaceFolders, removed: folders(...removed).workspaceFolders },
  });
  await client.sendNotification('workspace/didChangeWorkspaceFolders', event([other], []));
  // Past the scope check: it fails only for the missing interpreter.
  const later = await refusal(client.sendRequest(FinetuneRequest, job({ workspace: other, python: join(scratch, 'no-such-python') })));
  assert.equal((later.data as { kind?: string } | undefined)?.kind, 'missing_python', later.message);
  await client.sendNotification('workspace/didChangeWorkspaceFolders', event([], [other]));
  const gone = await refusal(client.sendRequest(FinetuneRequest, job({ workspace: other })));
  assert.match(gone.message, /not one of the folders open in the editor/);
});

test('the interpreter never comes from settings the server pulls; the command line gives the default', async () => {
  // An editor may answer workspace/configuration from the workspace's own files.
  const marker = join(scratch, 'planted-python-ran');
  const planted = join(workspace, 'planted-python');
  writeFileSync(planted, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`);
  chmodSync(planted, 0o755);
  const fromCommandLine = join(scratch, 'python-from-the-command-line');
  const client = await start({
    init: folders(workspace),
    capabilities: { workspace: { configuration: true } },
    configuration: { pythonPath: planted },
    options: { python: fromCommandLine },
  });
  const err = await refusal(client.sendRequest(FinetuneRequest, job({ workspace })));
  assert.equal((err.data as { kind?: string } | undefined)?.kind, 'missing_python', err.message);
  assert.match(err.message, /python-from-the-command-line/);
  assert.equal(existsSync(marker), false, 'the interpreter named in the settings ran');
});
