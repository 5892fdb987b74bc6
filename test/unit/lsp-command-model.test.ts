// A separate model for the commands (`diffill.commandModelPath`), through the built language server
// over stdio: ghost text comes from the ghost-text model (the shipped one, whose answer here is
// known), Fill Blanks and Write What Comes Before from the command model (the noisy tiny model, whose
// answers are compared with the engine's own on the same request), the command model loads only on
// the first command, the status names both models with their size and measured latency, and emptying
// the setting hands the commands back to the ghost-text model. Build first (`npm run build`).
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  createMessageConnection,
  InlineCompletionRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type InlineCompletionList,
  type MessageConnection,
  type TextDocumentEdit,
  type TextEdit,
} from 'vscode-languageserver/node';
import { loadModel } from '../../server/engine/engine';
import { FillBlanksRequest, StatusNotification, WriteBeforeRequest, type StatusParams } from '../../server/src/protocol';
import { ROOT, sharpModelDir } from '../helpers/tiny-model';

const CLI = join(ROOT, 'dist', 'cli.js');
const GHOST = join(ROOT, 'models', 'default');
const ADD_URI = 'file:///project/add.py';
const ADD = 'def add(a, b):\n    return a + \n';
const SUM_URI = 'file:///project/sum.ts';
const SUM = ['function sum(xs: number[]): number {', '  let total = 0;', '  for (const x of xs) total += ___;', '  return ___;', '}', ''].join('\n');
const SETTINGS = { debounceMs: 0, maxTokens: 8, contextTokens: 128, threads: 1 };
const LONG_FORM = 4; // fill-blanks.ts LONG_FORM_FACTOR: the commands' canvas per blank

let commandDir = '';
let child: ChildProcessWithoutNullStreams;
let conn: MessageConnection;
let stderr = '';
const statuses: StatusParams[] = [];

before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
  commandDir = sharpModelDir();
  child = spawn(process.execPath, [CLI, 'lsp', '--stdio', '--model', GHOST], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  conn.onNotification(StatusNotification, (s) => void statuses.push(s));
  conn.listen();
});

after(() => {
  conn?.dispose();
  if (child !== undefined && child.exitCode === null) child.kill();
});

async function withStderr<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver stderr:\n${stderr}`);
  }
}

/** What the engine itself answers for the request Fill Blanks makes (fill-blanks.ts), line-trimmed as it does. */
async function engineFills(dir: string): Promise<string[]> {
  const engine = await loadModel(dir, { threads: 1 });
  try {
    const blanks = [...SUM.matchAll(/___/g)].map((m) => ({ start: m.index, end: m.index + 3 }));
    const r = await engine.fill({
      text: SUM,
      blanks,
      maxTokensPerBlank: SETTINGS.maxTokens * LONG_FORM,
      sampler: { guidance: 0, temperature: 0 },
      context: { maxContextTokens: SETTINGS.contextTokens },
    });
    return r.fills.map((f) => (f.split('\n').find((l) => l.trim() !== '') ?? '').trim());
  } finally {
    await engine.dispose();
  }
}

async function fillBlanks(): Promise<string[]> {
  const filled = (await withStderr(conn.sendRequest(FillBlanksRequest, { textDocument: { uri: SUM_URI } }))) as { edit: { documentChanges: TextDocumentEdit[] } };
  return (filled.edit.documentChanges[0]!.edits as TextEdit[]).map((e) => e.newText);
}

const lastWithModels = () => statuses.filter((s) => s.models.length === 2).at(-1)!;

test('ghost text from the ghost-text model, the commands from their own model, both named in the status', async () => {
  await withStderr(
    conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { settings: { ...SETTINGS, commandModelPath: commandDir } } }),
  );
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: ADD_URI, languageId: 'python', version: 1, text: ADD } });
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri: SUM_URI, languageId: 'typescript', version: 1, text: SUM } });

  // The shipped model's answer after "    return a + " is `b` (lsp-stdio.test.ts).
  const list = (await withStderr(
    conn.sendRequest(InlineCompletionRequest.type, { textDocument: { uri: ADD_URI }, position: { line: 1, character: 15 }, context: { triggerKind: 2 } }),
  )) as InlineCompletionList | null;
  assert.equal(list?.items[0]?.insertText, 'b', `ghost text from the ghost-text model; stderr:\n${stderr}`);
  let [ghost, commands] = lastWithModels().models;
  assert.deepEqual(
    { role: ghost!.role, model: ghost!.model, loaded: ghost!.loaded, params: ghost!.params, requests: ghost!.requests },
    { role: 'ghost', model: 'default', loaded: true, params: 11998080, requests: 1 },
  );
  assert.equal(typeof ghost!.medianLatencyMs, 'number');
  // The command model is named before it is loaded, and is loaded only by a command.
  assert.deepEqual(commands, { role: 'commands', model: basename(commandDir), shared: false, loaded: false, params: null, medianLatencyMs: null, requests: 0 });

  const want = await engineFills(commandDir);
  const shipped = await engineFills(GHOST);
  assert.notDeepEqual(want, shipped, 'the two models answer these blanks differently, so the answer tells which one ran');
  assert.deepEqual(await fillBlanks(), want, 'Fill Blanks answers with the command model');
  const written = (await withStderr(conn.sendRequest(WriteBeforeRequest, { textDocument: { uri: ADD_URI }, line: 1 }))) as { text: string };
  assert.equal(typeof written.text, 'string');

  [ghost, commands] = lastWithModels().models;
  assert.equal(commands!.model, basename(commandDir));
  assert.equal(commands!.loaded, true);
  assert.equal(commands!.params, 606528, 'the tiny model\'s size from its config');
  assert.equal(commands!.requests, 2, 'Fill Blanks and Write What Comes Before');
  assert.equal(typeof commands!.medianLatencyMs, 'number');
  assert.equal(ghost!.requests, 1, 'the commands did not count as ghost-text requests');

  // Ghost text still comes from the ghost-text model with the command model loaded beside it.
  const again = (await withStderr(
    conn.sendRequest(InlineCompletionRequest.type, { textDocument: { uri: ADD_URI }, position: { line: 1, character: 15 }, context: { triggerKind: 1 } }),
  )) as InlineCompletionList | null;
  assert.equal(again?.items[0]?.insertText, 'b');

  // Emptying the setting hands the commands back to the ghost-text model.
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { diffill: { ...SETTINGS, commandModelPath: '' } } });
  assert.deepEqual(await fillBlanks(), shipped, 'Fill Blanks answers with the ghost-text model again');
  [ghost, commands] = lastWithModels().models;
  assert.equal(commands!.model, 'default');
  assert.equal(commands!.shared, true);
  assert.equal(commands!.requests, 1, 'the latencies of the old command model are forgotten');

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await withStderr(conn.sendRequest('shutdown'));
  await conn.sendNotification('exit');
  assert.equal(await exited, 0, `server exit code; stderr:\n${stderr}`);
});
